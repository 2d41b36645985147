;; Per-channel reductions and affine maps over channels-last float32 tensors seen as [rows, C], written
;; with 128-bit SIMD for the tfjs WASM backend's own (shared) memory. Every pointer is a byte offset in
;; that memory, C is a multiple of 4, and the [C]-sized accumulators are added to (not overwritten).
;; Built to channels.wasm by assemble.mjs; used by src/backend/wasm/channels.ts.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; su[c] += Σ_p u[p, c]
  (func (export "colsum") (param $u i32) (param $rows i32) (param $C i32) (param $su i32)
    (local $end i32) (local $row i32) (local $c i32)
    (local.set $row (i32.shl (local.get $C) (i32.const 2)))
    (local.set $end (i32.add (local.get $u) (i32.mul (local.get $rows) (local.get $row))))
    (block $done
      (loop $rowsLoop
        (br_if $done (i32.ge_u (local.get $u) (local.get $end)))
        (local.set $c (i32.const 0))
        (loop $cols
          (v128.store (i32.add (local.get $su) (local.get $c))
            (f32x4.add (v128.load (i32.add (local.get $su) (local.get $c)))
                       (v128.load (i32.add (local.get $u) (local.get $c)))))
          (local.set $c (i32.add (local.get $c) (i32.const 16)))
          (br_if $cols (i32.lt_u (local.get $c) (local.get $row))))
        (local.set $u (i32.add (local.get $u) (local.get $row)))
        (br $rowsLoop))))

  ;; su[c] += Σ_p u[p, c];  suv[c] += Σ_p u[p, c] · (v[p, c] − m[c])
  (func (export "coldot") (param $u i32) (param $v i32) (param $m i32) (param $rows i32) (param $C i32) (param $su i32) (param $suv i32)
    (local $end i32) (local $row i32) (local $c i32) (local $x v128)
    (local.set $row (i32.shl (local.get $C) (i32.const 2)))
    (local.set $end (i32.add (local.get $u) (i32.mul (local.get $rows) (local.get $row))))
    (block $done
      (loop $rowsLoop
        (br_if $done (i32.ge_u (local.get $u) (local.get $end)))
        (local.set $c (i32.const 0))
        (loop $cols
          (local.set $x (v128.load (i32.add (local.get $u) (local.get $c))))
          (v128.store (i32.add (local.get $su) (local.get $c))
            (f32x4.add (v128.load (i32.add (local.get $su) (local.get $c))) (local.get $x)))
          (v128.store (i32.add (local.get $suv) (local.get $c))
            (f32x4.add (v128.load (i32.add (local.get $suv) (local.get $c)))
              (f32x4.mul (local.get $x)
                (f32x4.sub (v128.load (i32.add (local.get $v) (local.get $c)))
                           (v128.load (i32.add (local.get $m) (local.get $c)))))))
          (local.set $c (i32.add (local.get $c) (i32.const 16)))
          (br_if $cols (i32.lt_u (local.get $c) (local.get $row))))
        (local.set $u (i32.add (local.get $u) (local.get $row)))
        (local.set $v (i32.add (local.get $v) (local.get $row)))
        (br $rowsLoop))))

  ;; out[p, c] = u[p, c] · a[c] + d[c]
  (func (export "affine1") (param $u i32) (param $out i32) (param $rows i32) (param $C i32) (param $a i32) (param $d i32)
    (local $end i32) (local $row i32) (local $c i32)
    (local.set $row (i32.shl (local.get $C) (i32.const 2)))
    (local.set $end (i32.add (local.get $u) (i32.mul (local.get $rows) (local.get $row))))
    (block $done
      (loop $rowsLoop
        (br_if $done (i32.ge_u (local.get $u) (local.get $end)))
        (local.set $c (i32.const 0))
        (loop $cols
          (v128.store (i32.add (local.get $out) (local.get $c))
            (f32x4.add
              (f32x4.mul (v128.load (i32.add (local.get $u) (local.get $c))) (v128.load (i32.add (local.get $a) (local.get $c))))
              (v128.load (i32.add (local.get $d) (local.get $c)))))
          (local.set $c (i32.add (local.get $c) (i32.const 16)))
          (br_if $cols (i32.lt_u (local.get $c) (local.get $row))))
        (local.set $u (i32.add (local.get $u) (local.get $row)))
        (local.set $out (i32.add (local.get $out) (local.get $row)))
        (br $rowsLoop))))

  ;; out[p, c] = u[p, c] · a[c] + v[p, c] · b[c] + d[c]
  (func (export "affine2") (param $u i32) (param $v i32) (param $out i32) (param $rows i32) (param $C i32) (param $a i32) (param $b i32) (param $d i32)
    (local $end i32) (local $row i32) (local $c i32)
    (local.set $row (i32.shl (local.get $C) (i32.const 2)))
    (local.set $end (i32.add (local.get $u) (i32.mul (local.get $rows) (local.get $row))))
    (block $done
      (loop $rowsLoop
        (br_if $done (i32.ge_u (local.get $u) (local.get $end)))
        (local.set $c (i32.const 0))
        (loop $cols
          (v128.store (i32.add (local.get $out) (local.get $c))
            (f32x4.add
              (f32x4.add
                (f32x4.mul (v128.load (i32.add (local.get $u) (local.get $c))) (v128.load (i32.add (local.get $a) (local.get $c))))
                (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $c))) (v128.load (i32.add (local.get $b) (local.get $c)))))
              (v128.load (i32.add (local.get $d) (local.get $c)))))
          (local.set $c (i32.add (local.get $c) (i32.const 16)))
          (br_if $cols (i32.lt_u (local.get $c) (local.get $row))))
        (local.set $u (i32.add (local.get $u) (local.get $row)))
        (local.set $v (i32.add (local.get $v) (local.get $row)))
        (local.set $out (i32.add (local.get $out) (local.get $row)))
        (br $rowsLoop))))
)
