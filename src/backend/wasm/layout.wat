;; Layout changes for the WASM convolution gradients (src/backend/wasm/conv-backprop.ts), with 128-bit
;; SIMD over the tfjs WASM backend's own (shared) memory. Pointers are byte offsets in that memory.
;; Built to layout.wasm by assemble.mjs.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; dst[c, h, w, n] = src[n, h, w, c] for h < Hc, w < Wc (dst is [C, Hc, Wc, N]); N and C multiples of 4.
  ;; 4 images × 4 channels at a time: four loads, a 4×4 transpose in registers, four stores.
  (func (export "channelsToBatch") (param $src i32) (param $dst i32) (param $N i32) (param $H i32) (param $W i32) (param $C i32) (param $Hc i32) (param $Wc i32)
    (local $h i32) (local $w i32) (local $n i32) (local $c i32)
    (local $imageBytes i32) (local $plane i32) (local $r0 i32) (local $o i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $imageBytes (i32.shl (i32.mul (i32.mul (local.get $H) (local.get $W)) (local.get $C)) (i32.const 2)))
    (local.set $plane (i32.shl (i32.mul (i32.mul (local.get $Hc) (local.get $Wc)) (local.get $N)) (i32.const 2)))
    (local.set $h (i32.const 0))
    (loop $rows
      (local.set $w (i32.const 0))
      (loop $cols
        (local.set $n (i32.const 0))
        (loop $images
          ;; r0: src[n, h, w, 0]; o: dst[0, h, w, n]
          (local.set $r0 (i32.add (local.get $src)
            (i32.add (i32.mul (local.get $n) (local.get $imageBytes))
              (i32.shl (i32.mul (i32.add (i32.mul (local.get $h) (local.get $W)) (local.get $w)) (local.get $C)) (i32.const 2)))))
          (local.set $o (i32.add (local.get $dst)
            (i32.shl (i32.add (i32.mul (i32.add (i32.mul (local.get $h) (local.get $Wc)) (local.get $w)) (local.get $N)) (local.get $n)) (i32.const 2))))
          (local.set $c (i32.const 0))
          (loop $channels
            (local.set $a0 (v128.load (local.get $r0)))
            (local.set $a1 (v128.load (i32.add (local.get $r0) (local.get $imageBytes))))
            (local.set $a2 (v128.load (i32.add (local.get $r0) (i32.shl (local.get $imageBytes) (i32.const 1)))))
            (local.set $a3 (v128.load (i32.add (local.get $r0) (i32.mul (local.get $imageBytes) (i32.const 3)))))
            (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a0) (local.get $a1)))
            (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a0) (local.get $a1)))
            (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a2) (local.get $a3)))
            (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a2) (local.get $a3)))
            (v128.store (local.get $o)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
            (v128.store (i32.add (local.get $o) (local.get $plane))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
            (v128.store (i32.add (local.get $o) (i32.shl (local.get $plane) (i32.const 1)))
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
            (v128.store (i32.add (local.get $o) (i32.mul (local.get $plane) (i32.const 3)))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
            (local.set $r0 (i32.add (local.get $r0) (i32.const 16)))
            (local.set $o (i32.add (local.get $o) (i32.shl (local.get $plane) (i32.const 2))))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br_if $channels (i32.lt_u (local.get $c) (local.get $C))))
          (local.set $n (i32.add (local.get $n) (i32.const 4)))
          (br_if $images (i32.lt_u (local.get $n) (local.get $N))))
        (local.set $w (i32.add (local.get $w) (i32.const 1)))
        (br_if $cols (i32.lt_u (local.get $w) (local.get $Wc))))
      (local.set $h (i32.add (local.get $h) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $h) (local.get $Hc)))))

  ;; dst[t, n, :] = src[n, t, :] for src [N, T, C] (C a multiple of 4): rows of C floats moved.
  (func (export "batchToTaps") (param $src i32) (param $dst i32) (param $N i32) (param $T i32) (param $C i32)
    (local $n i32) (local $t i32) (local $c i32) (local $rowBytes i32) (local $i i32) (local $o i32)
    (local.set $rowBytes (i32.shl (local.get $C) (i32.const 2)))
    (local.set $n (i32.const 0))
    (loop $images
      (local.set $t (i32.const 0))
      (loop $taps
        (local.set $i (i32.add (local.get $src) (i32.mul (i32.add (i32.mul (local.get $n) (local.get $T)) (local.get $t)) (local.get $rowBytes))))
        (local.set $o (i32.add (local.get $dst) (i32.mul (i32.add (i32.mul (local.get $t) (local.get $N)) (local.get $n)) (local.get $rowBytes))))
        (local.set $c (i32.const 0))
        (loop $copy
          (v128.store (i32.add (local.get $o) (local.get $c)) (v128.load (i32.add (local.get $i) (local.get $c))))
          (local.set $c (i32.add (local.get $c) (i32.const 16)))
          (br_if $copy (i32.lt_u (local.get $c) (local.get $rowBytes))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br_if $taps (i32.lt_u (local.get $t) (local.get $T))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $images (i32.lt_u (local.get $n) (local.get $N)))))
)
