"""cuda_library: compiles .cu files with nvcc (sm_90a + sm_80) and wraps the objects in a cc_library.

Kernels are compiled without relocatable device code, so no device-link step is needed and the objects link
like any other C++ object. `cu_hdrs` lists the headers the .cu files include (they are inputs of the nvcc
action); `hdrs` are the public launcher headers.
"""

_NVCC = "/usr/local/cuda/bin/nvcc"

_NVCC_FLAGS = " ".join([
    "-std=c++17",
    "-O3",
    "-lineinfo",
    "--expt-relaxed-constexpr",
    "-Xcompiler -fPIC",
    "-gencode=arch=compute_90a,code=sm_90a",
])

# sm_80 (A100) code too, unless built with --define=ggrt_sm80=0 (the Hopper-only device stage, which must
# stay small enough to carry).
_SM80 = "-gencode=arch=compute_80,code=sm_80"

_TMP = "export TMPDIR=$$(mktemp -d) &&"

def cuda_library(name, srcs, hdrs = [], cu_hdrs = [], deps = [], **kwargs):
    objs = []
    for src in srcs:
        obj = "_objs_cuda/%s/%s" % (name, src.replace(".cu", ".pic.o"))
        native.genrule(
            name = "%s_%s_nvcc" % (name, src.replace("/", "_").replace(".", "_")),
            srcs = [src] + hdrs + cu_hdrs,
            outs = [obj],
            # Sandboxed actions run in PID namespaces where every nvcc is PID 2: its /tmp/tmpxft_* files would
            # collide between parallel actions, so each gets its own temporary directory.
            cmd = select({
                "//third_party:hopper_only": "%s %s %s -I. -I$(GENDIR) -c $(location %s) -o $@" % (_TMP, _NVCC, _NVCC_FLAGS, src),
                "//conditions:default": "%s %s %s %s -I. -I$(GENDIR) -c $(location %s) -o $@" % (_TMP, _NVCC, _NVCC_FLAGS, _SM80, src),
            }),
            message = "nvcc %s" % src,
        )
        objs.append(obj)
    native.cc_library(
        name = name,
        srcs = objs,
        hdrs = hdrs,
        deps = deps + ["@cuda//:cudart"],
        **kwargs
    )
