/* Marks, spans and counters from a C program, for viztrace.
 *
 *   cc -O2 -pthread -I<prefix>/include annotate.c -o annotate   (no library to link)
 *   ./annotate                        runs as usual; the calls do nothing
 *   viztrace run -- ./annotate        the report shows them:
 *     - spans "load", "work" (with "step" inside it) on the threads that made them,
 *     - an instant "checkpoint" with args {"items":3,"phase":"warm"},
 *     - a counter track "queue depth",
 *     - the worker thread named "worker".
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <viztrace.h>

static void pause_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

static void* worker(void* arg) {
  int steps = *(int*)arg;
  viztrace_thread_name("worker");
  viztrace_span_begin("work");
  for (int i = 0; i < steps; ++i) {
    viztrace_span_begin("step"); /* spans nest on their thread */
    pause_ms(2);
    viztrace_counter("queue depth", steps - i - 1);
    viztrace_span_end();
  }
  viztrace_span_end();
  return NULL;
}

int main(void) {
  viztrace_span_begin("load");
  pause_ms(5);
  viztrace_span_end();
  viztrace_instant("checkpoint", "phase=warm items=3");

  int steps = 3;
  viztrace_counter("queue depth", steps);
  pthread_t t;
  if (pthread_create(&t, NULL, worker, &steps) != 0) return 1;
  pthread_join(t, NULL);
  printf("annotate: %d steps done\n", steps);
  return 0;
}
