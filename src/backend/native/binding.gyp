{
  "targets": [
    {
      "target_name": "synthaug_dnnl",
      "sources": ["dnnl_kernels.cc"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fopenmp", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math"],
      "libraries": ["-ldnnl", "-lgomp"]
    }
  ]
}
