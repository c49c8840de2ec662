/* catuvac_verify: the harness catuvac-export verifies the C code with.
 *
 *   catuvac_verify windows IN.f32 OUT.i32          network on normalized windows (N × F × T float32)
 *   catuvac_verify stream IN.s16 CHUNK EVERY OUT.f32  push int16 PCM in CHUNK-sample pieces; after every
 *                                                  EVERY samples (once full) write the window + q(y|x)
 *   catuvac_verify sizes                           sizeof(catuvac_state), sizeof(catuvac_decision) as JSON
 *   catuvac_verify bench IN.f32 REPEATS            CPU time per decision (network) and per hop (front-end)
 * windows output per window: cluster, q15[K], logits_q16[K] as int32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catuvac_model.h"

#define NWIN (CATUVAC_N_FEATURES * CATUVAC_WINDOW_FRAMES)

static float g_in[NWIN];
static catuvac_state g_state;
static int16_t g_pcm[65536];

static int windows(const char *in, const char *out)
{
    FILE *fi = fopen(in, "rb"), *fo = fopen(out, "wb");
    catuvac_decision d;
    int32_t rec[1 + 2 * CATUVAC_N_CLUSTERS];
    int k;
    if (!fi || !fo) { perror("catuvac_verify"); return 2; }
    while (fread(g_in, sizeof(float), NWIN, fi) == NWIN) {
        catuvac_classify_window(g_in, &d);
        rec[0] = d.cluster;
        for (k = 0; k < CATUVAC_N_CLUSTERS; k++) {
            rec[1 + k] = d.q15[k];
            rec[1 + CATUVAC_N_CLUSTERS + k] = d.logits_q16[k];
        }
        fwrite(rec, sizeof(int32_t), 1 + 2 * CATUVAC_N_CLUSTERS, fo);
    }
    fclose(fi);
    return fclose(fo) ? 2 : 0;
}

static int stream(const char *in, long chunk, long every, const char *out)
{
    FILE *fi = fopen(in, "rb"), *fo = fopen(out, "wb");
    catuvac_decision d;
    float q[CATUVAC_N_CLUSTERS];
    long next = every;
    size_t n;
    int k;
    if (!fi || !fo) { perror("catuvac_verify"); return 2; }
    if (chunk < 1 || chunk > 65536 || every < 1) { fprintf(stderr, "bad CHUNK or EVERY\n"); return 2; }
    catuvac_init(&g_state);
    while ((n = fread(g_pcm, sizeof(int16_t), (size_t)chunk, fi)) > 0) {
        catuvac_push(&g_state, g_pcm, n);
        while (g_state.samples_seen >= next) { /* decisions fall on chunk ends: the caller picks EVERY as a multiple */
            if (g_state.samples_seen == next && catuvac_window(&g_state, g_in) == 0) {
                catuvac_decide(&g_state, &d);
                for (k = 0; k < CATUVAC_N_CLUSTERS; k++) q[k] = d.q15[k] / 32768.0f;
                fwrite(g_in, sizeof(float), NWIN, fo);
                fwrite(q, sizeof(float), CATUVAC_N_CLUSTERS, fo);
            }
            next += every;
        }
    }
    fclose(fi);
    return fclose(fo) ? 2 : 0;
}

static int bench(const char *in, long repeats)
{
    static float wins[64 * NWIN];
    FILE *fi = fopen(in, "rb");
    catuvac_decision d;
    size_t n, i;
    long r, sum = 0;
    clock_t t0;
    double net_us, fe_us;
    if (!fi) { perror("catuvac_verify"); return 2; }
    n = fread(wins, sizeof(float) * NWIN, 64, fi);
    fclose(fi);
    if (n == 0 || repeats < 1) { fprintf(stderr, "no windows or bad REPEATS\n"); return 2; }
    t0 = clock();
    for (r = 0; r < repeats; r++)
        for (i = 0; i < n; i++) { catuvac_classify_window(wins + i * NWIN, &d); sum += d.cluster; }
    net_us = 1e6 * (double)(clock() - t0) / CLOCKS_PER_SEC / (double)(repeats * (long)n);
    catuvac_init(&g_state);
    for (i = 0; i < 65536; i++) g_pcm[i] = (int16_t)((i * 7919) % 20000 - 10000);
    t0 = clock();
    for (r = 0; r < repeats; r++) catuvac_push(&g_state, g_pcm, 65536);
    fe_us = 1e6 * (double)(clock() - t0) / CLOCKS_PER_SEC / ((double)repeats * 65536.0 / CATUVAC_HOP);
    printf("{\"network_us_per_decision\": %.3f, \"frontend_us_per_hop\": %.3f, \"decisions\": %ld, \"checksum\": %ld}\n",
           net_us, fe_us, repeats * (long)n, sum);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "sizes")) {
        printf("{\"state_bytes\": %lu, \"decision_bytes\": %lu}\n", (unsigned long)sizeof(catuvac_state), (unsigned long)sizeof(catuvac_decision));
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "bench")) return bench(argv[2], atol(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "windows")) return windows(argv[2], argv[3]);
    if (argc == 6 && !strcmp(argv[1], "stream")) return stream(argv[2], atol(argv[3]), atol(argv[4]), argv[5]);
    fprintf(stderr, "usage: %s windows IN.f32 OUT.i32 | stream IN.s16 CHUNK EVERY OUT.f32 | bench IN.f32 REPEATS\n", argv[0]);
    return 2;
}
