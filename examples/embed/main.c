/* spdc-embed: load a bundle, feed zeros to every input, run, print the first outputs.
 * Usage: spdc-embed model.spdc */
#include <spdc/runtime.h>

#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                                \
  do {                                                                                             \
    spdc_status_t s_ = (call);                                                                     \
    if (s_ != SPDC_STATUS_OK) {                                                                    \
      fprintf(stderr, "%s: %s\n", spdc_status_string(s_), spdc_last_error());                      \
      return 1;                                                                                    \
    }                                                                                              \
  } while (0)

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s model.spdc\n", argv[0]);
    return 2;
  }
  spdc_context_t *context = NULL;
  spdc_model_t *model = NULL;
  CHECK(spdc_context_create(NULL, &context));
  CHECK(spdc_model_load(context, argv[1], &model));

  size_t inputs = 0, outputs = 0;
  CHECK(spdc_model_input_count(model, &inputs));
  CHECK(spdc_model_output_count(model, &outputs));
  for (size_t i = 0; i < inputs; ++i) {
    spdc_tensor_info_t info;
    CHECK(spdc_model_input_info(model, i, &info));
    CHECK(spdc_model_bind_input(model, i, calloc(1, info.bytes + 1), SPDC_MEMORY_HOST, info.bytes));
  }
  void **results = calloc(outputs, sizeof(void *));
  for (size_t i = 0; i < outputs; ++i) {
    spdc_tensor_info_t info;
    CHECK(spdc_model_output_info(model, i, &info));
    results[i] = calloc(1, info.bytes + 1);
    CHECK(spdc_model_bind_output(model, i, results[i], SPDC_MEMORY_HOST, info.bytes));
  }

  CHECK(spdc_model_run(model, NULL)); /* synchronous */

  for (size_t i = 0; i < outputs; ++i) {
    spdc_tensor_info_t info;
    CHECK(spdc_model_output_info(model, i, &info));
    printf("%s:", info.name);
    for (size_t j = 0; info.dtype == SPDC_DTYPE_F32 && j < 8 && j < info.bytes / 4; ++j)
      printf(" %g", ((const float *)results[i])[j]);
    printf("\n");
  }
  spdc_model_release(model);
  spdc_context_release(context);
  return 0; /* the host buffers are left to the OS: this is an example */
}
