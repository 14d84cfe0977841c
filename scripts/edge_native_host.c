/* A native host for an exported lnn_drive policy: the ONNX Runtime C API, no Python.
 *
 * It measures what a device that runs the model from C/C++ keeps resident: the same
 * library (libonnxruntime.so, shipped in the onnxruntime wheel's capi/ folder and in the
 * release archives), the same session options as OnnxPolicy (one intra-op thread,
 * sequential, no CPU arena), the recurrent state carried from step to step.
 *
 *   cc -O2 -o edge_native_host scripts/edge_native_host.c \
 *      -L"$ORT_CAPI" -l:libonnxruntime.so.1.32.0 -Wl,-rpath,"$ORT_CAPI"
 *   ./edge_native_host model.int8.onnx frames.u8 N_FRAMES H W STATE_SIZE STEPS
 *
 * frames.u8: N_FRAMES raw (H, W, 3) uint8 frames in model geometry (the graph's layout).
 * Prints one JSON line: the first action, the median ms per step over rounds of 100 steps
 * (after 100 warm-up steps), resident memory (KiB) after each stage, VmHWM, RssAnon and
 * RssFile at the end. scripts/bench_edge.py builds and runs it when a C
 * compiler is there.
 *
 * No onnxruntime header is needed: the C API is a table of function pointers (OrtApi)
 * whose order ONNX Runtime only ever appends to, so the few entries used here are called
 * by their index in that table (ORT_API_VERSION 13 and later; see onnxruntime_c_api.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void *Status; /* NULL: success */
typedef struct {
  const void *(*GetApi)(uint32_t version);
  const char *(*GetVersionString)(void);
} ApiBase;
const ApiBase *OrtGetApiBase(void);

/* Indices in OrtApi. */
enum {
  GET_ERROR_MESSAGE = 2,
  CREATE_ENV = 3,
  CREATE_SESSION = 7,
  RUN = 9,
  CREATE_SESSION_OPTIONS = 10,
  SET_SESSION_EXECUTION_MODE = 13,
  DISABLE_CPU_MEM_ARENA = 19,
  SET_SESSION_GRAPH_OPTIMIZATION_LEVEL = 23,
  SET_INTRA_OP_NUM_THREADS = 24,
  SET_INTER_OP_NUM_THREADS = 25,
  CREATE_TENSOR_WITH_DATA = 49,
  GET_TENSOR_MUTABLE_DATA = 51,
  CREATE_CPU_MEMORY_INFO = 69,
  RELEASE_VALUE = 96,
};
enum { ELEM_FLOAT = 1, ELEM_UINT8 = 2 };

static void *const *api;
#define FN(i, type) ((type)api[i])

static void check(Status s, const char *what) {
  if (s) {
    const char *msg = FN(GET_ERROR_MESSAGE, const char *(*)(Status))(s);
    fprintf(stderr, "error: %s: %s\n", what, msg);
    exit(1);
  }
}

static long status_kib(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, key, n) && line[n] == ':') v = atol(line + n + 1);
  if (f) fclose(f);
  return v;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double d = *(const double *)a - *(const double *)b;
  return (d > 0) - (d < 0);
}

static void *tensor(void *mem, void *data, size_t bytes, const int64_t *shape, size_t ndim,
                    int type) {
  void *v = NULL;
  check(FN(CREATE_TENSOR_WITH_DATA,
           Status (*)(void *, void *, size_t, const int64_t *, size_t, int, void **))(
            mem, data, bytes, shape, ndim, type, &v),
        "CreateTensorWithDataAsOrtValue");
  return v;
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: %s model.onnx frames.u8 n_frames h w state_size steps\n", argv[0]);
    return 2;
  }
  long rss_start = status_kib("VmRSS");
  const char *model = argv[1], *frames_path = argv[2];
  int n_frames = atoi(argv[3]), h = atoi(argv[4]), w = atoi(argv[5]), s = atoi(argv[6]);
  long steps = atol(argv[7]);
  size_t frame_bytes = (size_t)h * w * 3;
  uint8_t *frames = malloc(frame_bytes * n_frames);
  FILE *f = fopen(frames_path, "rb");
  if (!f || fread(frames, frame_bytes, n_frames, f) != (size_t)n_frames) {
    fprintf(stderr, "error: frames: cannot read %d frames of %dx%dx3 from %s\n", n_frames, h, w,
            frames_path);
    return 2;
  }
  fclose(f);

  api = OrtGetApiBase()->GetApi(13);
  if (!api) {
    fprintf(stderr, "error: this onnxruntime has no C API version 13\n");
    return 1;
  }
  void *env = NULL, *opts = NULL, *session = NULL, *mem = NULL;
  check(FN(CREATE_ENV, Status (*)(int, const char *, void **))(3, "lnn_drive", &env), "CreateEnv");
  long rss_env = status_kib("VmRSS");
  check(FN(CREATE_SESSION_OPTIONS, Status (*)(void **))(&opts), "CreateSessionOptions");
  check(FN(SET_INTRA_OP_NUM_THREADS, Status (*)(void *, int))(opts, 1), "SetIntraOpNumThreads");
  check(FN(SET_INTER_OP_NUM_THREADS, Status (*)(void *, int))(opts, 1), "SetInterOpNumThreads");
  check(FN(SET_SESSION_EXECUTION_MODE, Status (*)(void *, int))(opts, 0), "SetSessionExecutionMode");
  check(FN(SET_SESSION_GRAPH_OPTIMIZATION_LEVEL, Status (*)(void *, int))(opts, 99),
        "SetSessionGraphOptimizationLevel");
  check(FN(DISABLE_CPU_MEM_ARENA, Status (*)(void *))(opts), "DisableCpuMemArena");
  check(FN(CREATE_SESSION, Status (*)(void *, const char *, void *, void **))(env, model, opts,
                                                                              &session),
        "CreateSession");
  long rss_session = status_kib("VmRSS");
  check(FN(CREATE_CPU_MEMORY_INFO, Status (*)(int, int, void **))(0, 0, &mem),
        "CreateCpuMemoryInfo");

  /* Two state buffers, swapped each step: new_state of step t is the state of t + 1. */
  float *state[2] = {calloc(s > 0 ? s : 1, sizeof(float)), calloc(s > 0 ? s : 1, sizeof(float))};
  float action[16] = {0}, first = 0;
  int64_t frame_shape[4] = {1, h, w, 3}, state_shape[2] = {1, s}, action_shape[2] = {1, 1};
  const char *in_names[2] = {"frames", "state"}, *out_names[2] = {"action", "new_state"};
  uint8_t *x = malloc(frame_bytes);
  void *x_val = tensor(mem, x, frame_bytes, frame_shape, 4, ELEM_UINT8);
  long rounds = steps > 100 ? (steps - 100) / 100 : 0, r = 0;
  double *round_ms = calloc(rounds > 0 ? rounds : 1, sizeof(double)), t0 = 0;
  for (long t = 0; t < steps; t++) {
    int cur = t & 1;
    if (t >= 100 && (t - 100) % 100 == 0) {
      if (t > 100 && r < rounds) round_ms[r++] = (now_ms() - t0) / 100;
      t0 = now_ms();
    }
    memcpy(x, frames + frame_bytes * (t % n_frames), frame_bytes);
    void *in[2] = {x_val, tensor(mem, state[cur], sizeof(float) * s, state_shape, 2, ELEM_FLOAT)};
    void *out[2] = {tensor(mem, action, sizeof(float), action_shape, 2, ELEM_FLOAT),
                    tensor(mem, state[1 - cur], sizeof(float) * s, state_shape, 2, ELEM_FLOAT)};
    check(FN(RUN, Status (*)(void *, void *, const char *const *, void *const *, size_t,
                             const char *const *, size_t, void **))(session, NULL, in_names, in, 2,
                                                                    out_names, 2, out),
          "Run");
    if (t == 0) first = action[0];
    for (int i = 0; i < 2; i++) FN(RELEASE_VALUE, void (*)(void *))(out[i]);
    FN(RELEASE_VALUE, void (*)(void *))(in[1]);
  }
  if (rounds && r < rounds) round_ms[r++] = (now_ms() - t0) / 100;
  qsort(round_ms, r, sizeof(double), cmp_double);
  double median = r ? (r % 2 ? round_ms[r / 2] : (round_ms[r / 2 - 1] + round_ms[r / 2]) / 2) : -1;
  long rss_steps = status_kib("VmRSS");
  printf("{\"first_action\": %.9g, \"ms_per_step\": %.4f, \"start\": %ld, \"env\": %ld, \"session\": %ld, \"steps\": %ld, "
         "\"VmHWM\": %ld, \"RssAnon\": %ld, \"RssFile\": %ld}\n",
         first, median, rss_start, rss_env, rss_session, rss_steps, status_kib("VmHWM"),
         status_kib("RssAnon"), status_kib("RssFile"));
  return 0;
}
