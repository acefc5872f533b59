// threads.cc — the N-API face of thread placement: which CPUs the calling thread may run on,
// and pinning it to some of them (Linux sched_getaffinity / sched_setaffinity, which act on
// the calling thread when given pid 0). Elsewhere every call answers "unsupported".
//
// Exports:
//   allowed(): number[] | null     CPUs the calling thread may run on; null when unsupported
//   pin(cpus: number[]): number    restricts the calling thread to `cpus`: 0, or the errno
//                                  (EINVAL: none of them is usable), or -1 when unsupported
//   setIdle(tid, idle): number     puts thread `tid` of this process in SCHED_IDLE (idle true)
//                                  or back in SCHED_OTHER: 0, the errno, or -1 when unsupported
// Context-aware (NAPI_MODULE_INIT), so worker_threads can load it; no state.
// Not here: the policy (src/parallel/affinity.ts), the kernels (addon.cc).

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <node_api.h>
#include <stdint.h>

#if defined(__linux__)
#include <errno.h>
#include <sched.h>
#endif

namespace {

napi_value allowed(napi_env env, napi_callback_info) {
  napi_value out;
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) {
    napi_get_null(env, &out);
    return out;
  }
  napi_create_array(env, &out);
  uint32_t k = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &set)) continue;
    napi_value v;
    napi_create_uint32(env, (uint32_t)cpu, &v);
    napi_set_element(env, out, k++, v);
  }
#else
  napi_get_null(env, &out);
#endif
  return out;
}

napi_value pin(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value out;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool isArray = false;
  if (argc < 1 || napi_is_array(env, argv[0], &isArray) != napi_ok || !isArray) {
    napi_throw_type_error(env, nullptr, "pin(cpus): cpus must be an array of CPU numbers");
    return nullptr;
  }
#if defined(__linux__)
  uint32_t n = 0;
  napi_get_array_length(env, argv[0], &n);
  cpu_set_t set;
  CPU_ZERO(&set);
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    uint32_t cpu = 0;
    napi_get_element(env, argv[0], i, &v);
    if (napi_get_value_uint32(env, v, &cpu) != napi_ok || cpu >= CPU_SETSIZE) {
      napi_throw_range_error(env, nullptr, "pin(cpus): each CPU must be an integer in [0, CPU_SETSIZE)");
      return nullptr;
    }
    CPU_SET(cpu, &set);
  }
  const int r = sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : errno;
  napi_create_int32(env, r, &out);
#else
  napi_create_int32(env, -1, &out);
#endif
  return out;
}

napi_value setIdle(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_value out;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t tid = 0;
  bool idle = false;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &tid) != napi_ok || tid <= 0 || napi_get_value_bool(env, argv[1], &idle) != napi_ok) {
    napi_throw_type_error(env, nullptr, "setIdle(tid, idle): tid must be a positive integer, idle a boolean");
    return nullptr;
  }
#if defined(__linux__) && defined(SCHED_IDLE)
  struct sched_param p;
  p.sched_priority = 0;
  const int r = sched_setscheduler((pid_t)tid, idle ? SCHED_IDLE : SCHED_OTHER, &p) == 0 ? 0 : errno;
  napi_create_int32(env, r, &out);
#else
  (void)idle;
  napi_create_int32(env, -1, &out);
#endif
  return out;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "allowed", NAPI_AUTO_LENGTH, allowed, nullptr, &fn);
  napi_set_named_property(env, exports, "allowed", fn);
  napi_create_function(env, "pin", NAPI_AUTO_LENGTH, pin, nullptr, &fn);
  napi_set_named_property(env, exports, "pin", fn);
  napi_create_function(env, "setIdle", NAPI_AUTO_LENGTH, setIdle, nullptr, &fn);
  napi_set_named_property(env, exports, "setIdle", fn);
  return exports;
}
