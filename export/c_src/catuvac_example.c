/* catuvac_example: one scene decision per interval from a 16-kHz WAV (16-bit PCM) or raw int16 file.
 *
 *   ./catuvac_example recording.wav [interval_seconds]
 *   ./catuvac_example recording.raw [interval_seconds]     (raw: mono int16 little-endian)
 *
 * Prints "time_s cluster q" per decision: q = q(y|x) of the chosen cluster (from Q15).
 * Multichannel WAVs are mixed to mono; other sample rates are refused (resample first). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catuvac_model.h"

#define BLOCK 512

static catuvac_state g_state;

static unsigned long le(const unsigned char *p, int n)
{
    unsigned long v = 0;
    int i;
    for (i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Position f at the PCM data of a WAV file; returns the channel count, or 0 with a message. */
static int wav_open(FILE *f, const char *path)
{
    unsigned char h[12], ck[8], fmt[16];
    int channels = 0;
    if (fread(h, 1, 12, f) != 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4)) {
        fprintf(stderr, "%s: not a RIFF/WAVE file (give a .wav, or raw int16 PCM with a .raw name)\n", path);
        return 0;
    }
    while (fread(ck, 1, 8, f) == 8) {
        unsigned long size = le(ck + 4, 4);
        if (!memcmp(ck, "fmt ", 4)) {
            if (size < 16 || fread(fmt, 1, 16, f) != 16) break;
            if (le(fmt, 2) != 1 || le(fmt + 14, 2) != 16) {
                fprintf(stderr, "%s: only 16-bit integer PCM WAV is supported; convert it first\n", path);
                return 0;
            }
            if (le(fmt + 4, 4) != CATUVAC_SAMPLE_RATE) {
                fprintf(stderr, "%s: %lu Hz; the model needs %d Hz: resample it first\n", path, le(fmt + 4, 4), CATUVAC_SAMPLE_RATE);
                return 0;
            }
            channels = (int)le(fmt + 2, 2);
            if (size > 16 && fseek(f, (long)(size - 16 + (size & 1)), SEEK_CUR)) break;
        } else if (!memcmp(ck, "data", 4)) {
            if (channels < 1) break;
            return channels;
        } else if (fseek(f, (long)(size + (size & 1)), SEEK_CUR)) {
            break;
        }
    }
    fprintf(stderr, "%s: no 'fmt ' + 'data' chunks found: a damaged WAV file?\n", path);
    return 0;
}

int main(int argc, char **argv)
{
    static unsigned char raw[BLOCK * 2 * 8];
    static int16_t mono[BLOCK];
    catuvac_decision d;
    FILE *f;
    int channels = 1;
    double interval = 1.0;
    long step, next;
    size_t len, n, i;
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s FILE.wav|FILE.raw [interval_seconds]\n", argv[0]);
        return 2;
    }
    if (argc == 3) interval = atof(argv[2]);
    if (!(interval > 0.0)) {
        fprintf(stderr, "interval must be a positive number of seconds\n");
        return 2;
    }
    f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    len = strlen(argv[1]);
    if (len >= 4 && (!strcmp(argv[1] + len - 4, ".wav") || !strcmp(argv[1] + len - 4, ".WAV"))) {
        channels = wav_open(f, argv[1]);
        if (channels < 1 || channels > 8) {
            if (channels > 8) fprintf(stderr, "%s: %d channels, at most 8 are supported\n", argv[1], channels);
            fclose(f);
            return 2;
        }
    }
    if (catuvac_init(&g_state)) {
        fprintf(stderr, "this compiler's right shift of negative integers is not arithmetic: unsupported\n");
        return 2;
    }
    step = (long)(interval * CATUVAC_SAMPLE_RATE + 0.5);
    next = (long)CATUVAC_HOP * (CATUVAC_WINDOW_FRAMES - 1) + CATUVAC_N_FFT; /* the first full window */
    printf("# time_s cluster q\n");
    while ((n = fread(raw, 2 * (size_t)channels, BLOCK, f)) > 0) {
        for (i = 0; i < n; i++) {
            long acc = 0;
            int c;
            for (c = 0; c < channels; c++) acc += (int16_t)le(raw + 2 * (i * channels + c), 2);
            mono[i] = (int16_t)(acc / channels);
        }
        for (i = 0; i < n; i++) { /* push sample-exact up to each decision time */
            catuvac_push(&g_state, mono + i, 1);
            if (g_state.samples_seen == next) {
                if (catuvac_decide(&g_state, &d) == 0)
                    printf("%.3f %d %.4f\n", (double)next / CATUVAC_SAMPLE_RATE, d.cluster, d.q15[d.cluster] / 32768.0);
                next += step;
            }
        }
    }
    fclose(f);
    return 0;
}
