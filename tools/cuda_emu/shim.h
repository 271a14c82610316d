// CPU emulation of the CUDA features the block-per-row kernels use, so their logic (indexing,
// grid-stride loops, shared-memory reductions between barriers) can be checked without a GPU:
// one OS thread per CUDA thread of a block, blocks run one after another, __syncthreads is a
// barrier, __shared__ is a static. Not emulated: warps (shuffles, votes), atomics, the memory
// model beyond what a barrier orders; kernels that need those are checked on a GPU only.
#include <pthread.h>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <functional>
#include <utility>
typedef long long i64;
struct dim3_ { unsigned x, y, z; };
static thread_local dim3_ threadIdx;
static dim3_ blockIdx, blockDim, gridDim;
static pthread_barrier_t bar;
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
inline void __syncthreads() { pthread_barrier_wait(&bar); }
#define GRID_STRIDE(i, n) \
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)
// Run kernel body `k` (a lambda calling the kernel) on a grid of `grid` blocks of `block` threads.
static void launch(unsigned grid, unsigned block, std::function<void()> k) {
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    pthread_barrier_init(&bar, nullptr, block);
    for (unsigned b = 0; b < grid; ++b) {
        blockIdx = {b, 0, 0};
        std::vector<pthread_t> ts(block);
        std::vector<unsigned> ids(block);
        for (unsigned t = 0; t < block; ++t) {
            ids[t] = t;
            pthread_create(&ts[t], nullptr, [](void* p) -> void* {
                auto* args = (std::pair<unsigned, std::function<void()>*>*)p;
                threadIdx = {args->first, 0, 0};
                (*args->second)();
                delete args;
                return nullptr;
            }, new std::pair<unsigned, std::function<void()>*>(t, &k));
        }
        for (auto& t : ts) pthread_join(t, nullptr);
    }
    pthread_barrier_destroy(&bar);
}
