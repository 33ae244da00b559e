// Device side of the Tensor Memory Accelerator (Hopper, sm_90a): shared-memory barriers that count the bytes
// of bulk copies, and the 2-D tensor copy (ops/cuda/tensor_map.h makes its descriptor). One thread issues a
// copy of a whole box; the consumers wait on the barrier's phase. The same barriers count 16-byte stores into
// another cluster block's shared memory (StoreRemoteAsync), which its receiver waits for alone.
#ifndef GGRT_OPS_CUDA_TMA_CUH_
#define GGRT_OPS_CUDA_TMA_CUH_

#include <cstdint>

#include <cuda.h>

namespace ggrt::cuda {

__device__ __forceinline__ uint32_t SharedAddress(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
// A barrier one arrival completes (with the bytes it expects); visible to the async proxy after the fence.
__device__ __forceinline__ void BarrierInit(uint64_t* bar) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(SharedAddress(bar)));
}
__device__ __forceinline__ void BarrierInitFence() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
// The one arrival of the barrier's current phase, which then completes once `bytes` have landed.
__device__ __forceinline__ void BarrierArriveExpect(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(SharedAddress(bar)), "r"(bytes)
               : "memory");
}
// The spin on the barrier's phase, the wait's semantics as `sem` says (try_wait's own default: acquire in
// this block).
#define GGRT_BARRIER_WAIT_LOOP(sem)                                                \
  "{\n.reg .pred done;\n"                                                          \
  "wait:\n"                                                                        \
  "mbarrier.try_wait.parity" sem ".shared::cta.b64 done, [%0], %1;\n"              \
  "@!done bra wait;\n}\n"
// Waits until the barrier's phase `parity` (0, 1, 0, ... as it is reused) has completed.
__device__ __forceinline__ void BarrierWait(uint64_t* bar, uint32_t parity) {
  asm volatile(GGRT_BARRIER_WAIT_LOOP("") ::"r"(SharedAddress(bar)), "r"(parity) : "memory");
}
// As BarrierWait, for bytes that other blocks of the cluster stored (StoreRemoteAsync): the waiting thread then
// sees their stores.
__device__ __forceinline__ void BarrierWaitCluster(uint64_t* bar, uint32_t parity) {
  asm volatile(GGRT_BARRIER_WAIT_LOOP(".acquire.cluster") ::"r"(SharedAddress(bar)), "r"(parity) : "memory");
}
#undef GGRT_BARRIER_WAIT_LOOP
// The address in cluster block `rank`'s shared memory of what `shared` (a SharedAddress) is in this block's.
__device__ __forceinline__ uint32_t MapShared(uint32_t shared, uint32_t rank) {
  uint32_t mapped;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(mapped) : "r"(shared), "r"(rank));
  return mapped;
}
// 16 bytes into another block's shared memory (`dst` and `bar` from MapShared, `dst` 16-byte aligned), counted
// on that block's barrier `bar` when they land. Nothing waits here: the store needs no fence and the storing
// block may exit at once; the receiver's BarrierWaitCluster orders it.
__device__ __forceinline__ void StoreRemoteAsync(uint32_t dst, uint4 v, uint32_t bar) {
  asm volatile("st.async.shared::cluster.mbarrier::complete_tx::bytes.v4.b32 [%0], {%1, %2, %3, %4}, [%5];\n" ::"r"(
                   dst),
               "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w), "r"(bar)
               : "memory");
}
#endif
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// Box (c0, c1) (element column, row) of `map` into `dst` (aligned to the map's swizzle span), counted on
// `bar`; `policy` an L2 cache policy (createpolicy).
__device__ __forceinline__ void TmaLoad2d(void* dst, const CUtensorMap* map, int c0, int c1, uint64_t* bar,
                                          uint64_t policy) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint"
      " [%0], [%1, {%2, %3}], [%4], %5;\n" ::"r"(SharedAddress(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(SharedAddress(bar)), "l"(policy)
      : "memory");
}
#endif

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_TMA_CUH_
