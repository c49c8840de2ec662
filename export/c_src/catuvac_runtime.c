/* ---- catuvac runtime: kernels, front-end and API (fixed text, appended to the generated data) ----
 *
 * No malloc, no threads, no I/O: every buffer below is static (.bss) with its size fixed at export.
 * The network is integer arithmetic; the front-end (FFT, mel, log, window normalization) is float32
 * with double accumulators for the window statistics: see README.md for why.
 */

static int8_t g_act_a[CATUVAC_ACT_A];  /* ping-pong int8 activation buffers */
static int8_t g_act_b[CATUVAC_ACT_B];
static int32_t g_ix[CATUVAC_MAX_T * CATUVAC_MAX_3H]; /* a GRU layer's input projection, Q16 */
static int32_t g_hseq[CATUVAC_MAX_T * CATUVAC_MAX_H]; /* a GRU layer's outputs, Q15 */
static int32_t g_gh[CATUVAC_MAX_3H];                   /* recurrent product of one step, Q16 */
static int8_t g_hq[CATUVAC_MAX_H];                     /* h quantized for the recurrent product */

/* ------------------------------------------------------------------ fixed point */
static int64_t rq(int64_t acc, int32_t m, int s)
{
    return (acc * (int64_t)m + ((int64_t)1 << (s - 1))) >> s; /* round half up; arithmetic shift */
}

static int8_t sat8(int64_t v)
{
    return (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
}

static int32_t sat_q16(int64_t v)
{
    const int64_t lim = (int64_t)1 << 30; /* |x| ≤ 16 384: sums of two stay in int32 */
    return (int32_t)(v < -lim ? -lim : (v > lim ? lim : v));
}

static int32_t lut(int32_t x, const int16_t *table)
{
    int32_t u, i, f;
    if (x < -CATUVAC_LUT_RANGE) x = -CATUVAC_LUT_RANGE;
    if (x > CATUVAC_LUT_RANGE - 1) x = CATUVAC_LUT_RANGE - 1;
    u = x + CATUVAC_LUT_RANGE;
    i = u >> CATUVAC_LUT_FRAC_BITS;
    f = u & ((1 << CATUVAC_LUT_FRAC_BITS) - 1);
    return table[i] + (((table[i + 1] - table[i]) * f + (1 << (CATUVAC_LUT_FRAC_BITS - 1))) >> CATUVAC_LUT_FRAC_BITS);
}

static int64_t rmul15(int64_t a, int64_t b)
{
    return (a * b + (1 << 14)) >> 15;
}

static int32_t round_half_even(double v)
{
    double a = v < 0 ? -v : v;
    int32_t i;
    double d;
    if (a > 2147483000.0) a = 2147483000.0;
    i = (int32_t)a;
    d = a - (double)i;
    if (d > 0.5 || (d == 0.5 && (i & 1))) i++;
    return v < 0 ? -i : i;
}

/* ------------------------------------------------------------------ kernels */
static void conv_int8(const conv_desc *c, const int8_t *x, int8_t *y)
{
    int oc, oy, ox, ic, ky, kx;
    const int ksz = c->kh * c->kw;
    for (oc = 0; oc < c->co; oc++) {
        const int8_t *wo = c->w + (size_t)oc * c->ci * ksz;
        for (oy = 0; oy < c->oh; oy++) {
            const int iy0 = oy * c->sh - c->pt;
            const int ky0 = iy0 < 0 ? -iy0 : 0;
            const int ky1 = iy0 + c->kh > c->h ? c->h - iy0 : c->kh;
            for (ox = 0; ox < c->ow; ox++) {
                const int ix0 = ox * c->sw - c->pl;
                const int kx0 = ix0 < 0 ? -ix0 : 0;
                const int kx1 = ix0 + c->kw > c->w_ ? c->w_ - ix0 : c->kw;
                int32_t acc = c->b[oc];
                int64_t v;
                if (c->kw == CATUVAC_KW && kx0 == 0 && kx1 == CATUVAC_KW) { /* full rows: a constant trip count the compiler unrolls */
                    int32_t wsum = 0;
                    for (ic = 0; ic < c->ci; ic++) {
                        const int8_t *xc = x + (size_t)ic * c->h * c->w_;
                        const int8_t *wc = wo + (size_t)ic * ksz;
                        for (ky = ky0; ky < ky1; ky++) {
                            const int8_t *xr = xc + (size_t)(iy0 + ky) * c->w_ + ix0;
                            const int8_t *wr = wc + ky * CATUVAC_KW;
                            for (kx = 0; kx < CATUVAC_KW; kx++) { acc += xr[kx] * wr[kx]; wsum += wr[kx]; }
                        }
                    }
                    acc -= c->in_zp * wsum; /* sum (x - zp)·w = sum x·w - zp·sum w, exactly */
                } else {
                    for (ic = 0; ic < c->ci; ic++) {
                        const int8_t *xc = x + (size_t)ic * c->h * c->w_;
                        const int8_t *wc = wo + (size_t)ic * ksz;
                        for (ky = ky0; ky < ky1; ky++) {
                            const int8_t *xr = xc + (size_t)(iy0 + ky) * c->w_ + ix0;
                            const int8_t *wr = wc + ky * c->kw;
                            for (kx = kx0; kx < kx1; kx++) acc += ((int32_t)xr[kx] - c->in_zp) * wr[kx];
                        }
                    }
                }
                v = rq(acc, c->m[oc], c->s[oc]) + c->out_zp;
                if (c->relu && v < c->out_zp) v = c->out_zp;
                y[((size_t)oc * c->oh + oy) * c->ow + ox] = sat8(v);
            }
        }
    }
}

/* acc[j] = bias[j] + sum_i (x[i] - zp) * w[j][i], requantized to Q16 with (m[j], s[j]) */
static void matvec_q16(const int8_t *x, int zp, const int8_t *w, const int32_t *bias, int n_in, int n_out,
                       const int32_t *m, const int8_t *s, int32_t *out)
{
    int j, i;
    for (j = 0; j < n_out; j++) {
        const int8_t *wr = w + (size_t)j * n_in;
        int32_t acc = bias ? bias[j] : 0;
        for (i = 0; i < n_in; i++) acc += ((int32_t)x[i] - zp) * wr[i];
        out[j] = sat_q16(rq(acc, m[j], s[j]));
    }
}

static void gru_layer(const gru_desc *g, const int8_t *seq)
{
    const int H = g->H;
    int t, j;
    for (t = 0; t < g->T; t++)
        matvec_q16(seq + (size_t)t * g->I, g->x_zp, g->w_ih, g->b_x, g->I, 3 * H, g->xm, g->xs, g_ix + (size_t)t * 3 * H);
    for (t = 0; t < g->T; t++) {
        const int32_t *ix = g_ix + (size_t)t * 3 * H;
        int32_t *h = g_hseq + (size_t)t * H;
        const int32_t *hp = t ? g_hseq + (size_t)(t - 1) * H : 0;
        if (t == 0) {
            for (j = 0; j < 3 * H; j++) g_gh[j] = 0; /* h0 = 0 */
        } else {
            const int zp = g->h_zp[t - 1];
            for (j = 0; j < H; j++) g_hq[j] = sat8(rq(hp[j], g->hqm[t - 1], g->hqs[t - 1]) + zp);
            matvec_q16(g_hq, zp, g->w_hh, 0, H, 3 * H, g->hm + (size_t)(t - 1) * 3 * H, g->hs + (size_t)(t - 1) * 3 * H, g_gh);
        }
        for (j = 0; j < H; j++) {
            const int32_t r = lut(ix[j] + g_gh[j], CATUVAC_SIGMOID);
            const int32_t z = lut(ix[H + j] + g_gh[H + j], CATUVAC_SIGMOID);
            const int32_t n = lut((int32_t)(ix[2 * H + j] + rmul15(r, (int64_t)g_gh[2 * H + j] + g->b_hn[j])), CATUVAC_TANH);
            const int32_t prev = t ? hp[j] : 0;
            h[j] = (int32_t)(n + rmul15(z, (int64_t)prev - n));
        }
    }
}

static void softmax_q15(const int32_t *logits, int16_t *q15)
{
    int64_t e[CATUVAC_N_CLUSTERS], tot = 0;
    int32_t mx = logits[0];
    int k;
    for (k = 1; k < CATUVAC_N_CLUSTERS; k++) if (logits[k] > mx) mx = logits[k];
    for (k = 0; k < CATUVAC_N_CLUSTERS; k++) {
        const int64_t d = (int64_t)logits[k] - mx;
        const int64_t y = -((d * CATUVAC_LOG2E_Q16 + (1 << 15)) >> 16);
        const int64_t ip = y >> 16, fp = y & 0xFFFF;
        const int i = (int)(fp >> 8), fr = (int)(fp & 0xFF);
        const int64_t v = CATUVAC_EXP2[i] - ((((int64_t)CATUVAC_EXP2[i] - CATUVAC_EXP2[i + 1]) * fr + 128) >> 8);
        e[k] = ip >= 31 ? 0 : v >> ip;
        tot += e[k];
    }
    for (k = 0; k < CATUVAC_N_CLUSTERS; k++) {
        const int64_t p = (e[k] * 32768 + tot / 2) / tot;
        q15[k] = (int16_t)(p > 32767 ? 32767 : p);
    }
}

static int8_t quantize_input(float v)
{
    return sat8((int64_t)round_half_even((double)v / CATUVAC_IN_SCALE) + CATUVAC_IN_ZP);
}

/* The network on the int8 window already in g_act_a. */
static void classify_quantized(catuvac_decision *out)
{
    int i, t, k, l;
    int8_t *x = g_act_a, *y = g_act_b, *tmp;
    const int8_t *seq;
    for (l = 0; l < CATUVAC_N_CONV; l++) {
        conv_int8(&CATUVAC_CONVS[l], x, y);
        tmp = x; x = y; y = tmp;
    }
    {   /* (C, F', T') → (T', C·F'): the graph's Transpose + Reshape */
        const conv_desc *c = &CATUVAC_CONVS[CATUVAC_N_CONV - 1];
        const int n_i = c->co * c->oh, T = c->ow;
        for (t = 0; t < T; t++)
            for (i = 0; i < n_i; i++) y[(size_t)t * n_i + i] = x[(size_t)i * T + t];
        seq = y;
    }
    for (l = 0; l < CATUVAC_N_GRU; l++) {
        const gru_desc *g = &CATUVAC_GRUS[l];
        if (l > 0) {
            int8_t *q = (seq == g_act_a) ? g_act_b : g_act_a;
            const gru_desc *p = &CATUVAC_GRUS[l - 1];
            for (i = 0; i < p->T * p->H; i++) q[i] = sat8(rq(g_hseq[i], CATUVAC_SEQ_M[l - 1], CATUVAC_SEQ_S[l - 1]) + g->x_zp);
            seq = q;
        }
        gru_layer(g, seq);
    }
    {
        const gru_desc *g = &CATUVAC_GRUS[CATUVAC_N_GRU - 1];
        const int32_t *h = g_hseq + (size_t)(g->T - 1) * g->H;
        for (i = 0; i < g->H; i++)
            g_hq[i] = sat8(rq(h[i], CATUVAC_SEQ_M[CATUVAC_N_GRU - 1], CATUVAC_SEQ_S[CATUVAC_N_GRU - 1]) + CATUVAC_OUT_ZP);
        matvec_q16(g_hq, CATUVAC_OUT_ZP, CATUVAC_W_OUT, CATUVAC_B_OUT, g->H, CATUVAC_N_CLUSTERS, CATUVAC_OUT_M, CATUVAC_OUT_S, out->logits_q16);
    }
    out->cluster = 0;
    for (k = 1; k < CATUVAC_N_CLUSTERS; k++) if (out->logits_q16[k] > out->logits_q16[out->cluster]) out->cluster = k;
    softmax_q15(out->logits_q16, out->q15);
}

int catuvac_classify_window(const float *window, catuvac_decision *out)
{
    int i;
    for (i = 0; i < CATUVAC_N_FEATURES * CATUVAC_WINDOW_FRAMES; i++) g_act_a[i] = quantize_input(window[i]);
    classify_quantized(out);
    return 0;
}

/* ------------------------------------------------------------------ front-end (float32) */
static float g_fr[CATUVAC_N_FFT], g_fi[CATUVAC_N_FFT], g_xr[CATUVAC_N_FFT];

/* Mixed-radix decimation-in-time DFT of n points x[k·stride] into y[0..n): in place per butterfly.
 * xi == 0: a real input. */
static void fft_rec(const float *xr, const float *xi, int stride, float *yr, float *yi, int n, const int *fac)
{
    int p, m, q, k, s;
    float tr[CATUVAC_FFT_MAX_RADIX], ti[CATUVAC_FFT_MAX_RADIX];
    if (n == 1) { yr[0] = xr[0]; yi[0] = xi ? xi[0] : 0.0f; return; }
    p = fac[0];
    m = n / p;
    for (q = 0; q < p; q++) fft_rec(xr + q * stride, xi ? xi + q * stride : 0, stride * p, yr + q * m, yi + q * m, m, fac + 1);
    for (k = 0; k < m; k++) {
        for (q = 0; q < p; q++) { /* twiddle W_n^(q·k) */
            const int idx = (int)(((long)q * k * (CATUVAC_N_FFT / n)) % CATUVAC_N_FFT);
            const float a = yr[q * m + k], b = yi[q * m + k];
            tr[q] = a * CATUVAC_TW_COS[idx] - b * CATUVAC_TW_SIN[idx];
            ti[q] = a * CATUVAC_TW_SIN[idx] + b * CATUVAC_TW_COS[idx];
        }
        for (s = 0; s < p; s++) {
            float sr = 0.0f, si = 0.0f;
            for (q = 0; q < p; q++) {
                const int idx = ((q * s) % p) * (CATUVAC_N_FFT / p);
                sr += tr[q] * CATUVAC_TW_COS[idx] - ti[q] * CATUVAC_TW_SIN[idx];
                si += tr[q] * CATUVAC_TW_SIN[idx] + ti[q] * CATUVAC_TW_COS[idx];
            }
            yr[k + m * s] = sr;
            yi[k + m * s] = si;
        }
    }
}

static void compute_frame(catuvac_state *st)
{
    int i, b, k;
    float *dst = st->frames + (size_t)st->head * CATUVAC_N_FEATURES;
    for (i = 0; i < CATUVAC_N_FFT; i++) g_xr[i] = ((float)st->pending[i] / 32768.0f) * CATUVAC_WINDOW_FN[i];
    fft_rec(g_xr, 0, 1, g_fr, g_fi, CATUVAC_N_FFT, CATUVAC_FFT_FACTORS);
    for (b = 0; b < CATUVAC_N_FEATURES; b++) {
        float acc = 0.0f;
        for (k = 0; k < CATUVAC_BAND_LEN[b]; k++) {
            const int bin = CATUVAC_BAND_START[b] + k;
            float v = g_fr[bin] * g_fr[bin] + g_fi[bin] * g_fi[bin];
#if CATUVAC_POWER == 1
            v = sqrtf(v);
#endif
            acc += v * CATUVAC_BAND_W[CATUVAC_BAND_OFF[b] + k];
        }
        dst[b] = logf(acc > CATUVAC_LOG_FLOOR ? acc : CATUVAC_LOG_FLOOR);
    }
    st->head = (st->head + 1) % CATUVAC_WINDOW_FRAMES;
    if (st->n_frames < CATUVAC_WINDOW_FRAMES) st->n_frames++;
}

int catuvac_init(catuvac_state *st)
{
    int i;
    for (i = 0; i < CATUVAC_N_FFT; i++) st->pending[i] = 0;
    for (i = 0; i < CATUVAC_N_FEATURES * CATUVAC_WINDOW_FRAMES; i++) st->frames[i] = 0.0f;
    st->n_pending = 0;
    st->head = 0;
    st->n_frames = 0;
    st->samples_seen = 0;
    /* the integer kernels need arithmetic right shifts of negative values */
    return ((-5 >> 1) == -3 && ((int64_t)-5 >> 1) == -3) ? 0 : -1;
}

void catuvac_push(catuvac_state *st, const int16_t *pcm, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        st->pending[st->n_pending++] = pcm[i];
        st->samples_seen++;
        if (st->n_pending == CATUVAC_N_FFT) {
            int j;
            compute_frame(st);
            for (j = 0; j < CATUVAC_N_FFT - CATUVAC_HOP; j++) st->pending[j] = st->pending[j + CATUVAC_HOP];
            st->n_pending = CATUVAC_N_FFT - CATUVAC_HOP;
        }
    }
}

/* Store normalized value i: as float into fout, or quantized into g_act_a (fout == 0). */
static void put(float *fout, int i, double v)
{
    if (fout) fout[i] = (float)v;
    else g_act_a[i] = quantize_input((float)v);
}

/* Raw frame value (f, t) of the window, oldest frame first, after the dynamic-range clamp. */
static double raw(const catuvac_state *st, int f, int t, double floor_)
{
    const double v = st->frames[(size_t)((st->head + t) % CATUVAC_WINDOW_FRAMES) * CATUVAC_N_FEATURES + f];
    return v < floor_ ? floor_ : v;
}

static int normalize(const catuvac_state *st, float *fout)
{
    const int F = CATUVAC_N_FEATURES, T = CATUVAC_WINDOW_FRAMES;
    int f, t;
    double floor_ = -1e300;
    if (st->n_frames < T) return 1;
#if CATUVAC_DYNAMIC_RANGE
    {
        double mx = -1e300;
        for (f = 0; f < F * T; f++) if (st->frames[f] > mx) mx = st->frames[f];
        floor_ = mx - CATUVAC_DR_SPAN;
    }
#endif
#if CATUVAC_NORM_GLOBAL
    for (f = 0; f < F; f++) {
        const double sd = CATUVAC_NORM_STD[f] > 1e-8 ? CATUVAC_NORM_STD[f] : 1e-8;
        const double span = CATUVAC_NORM_HI - CATUVAC_NORM_LO > 1e-8 ? CATUVAC_NORM_HI - CATUVAC_NORM_LO : 1e-8;
        for (t = 0; t < T; t++) {
            const double v = ((raw(st, f, t, floor_) - CATUVAC_NORM_MEAN[f]) / sd - CATUVAC_NORM_LO) / span;
            put(fout, f * T + t, v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v));
        }
    }
#else
    {
        const int n = F * T;
        double sum = 0.0, var = 0.0, mu, sd, lo = 1e300, hi = -1e300, span;
        for (f = 0; f < F; f++) for (t = 0; t < T; t++) sum += raw(st, f, t, floor_);
        mu = sum / n;
        for (f = 0; f < F; f++) for (t = 0; t < T; t++) { const double d = raw(st, f, t, floor_) - mu; var += d * d; }
        sd = sqrt(var / n);
        if (sd < 1e-8) sd = 1e-8;
        for (f = 0; f < F; f++)
            for (t = 0; t < T; t++) {
                const double z = (raw(st, f, t, floor_) - mu) / sd;
                if (z < lo) lo = z;
                if (z > hi) hi = z;
            }
        span = hi - lo > 1e-8 ? hi - lo : 1e-8;
        for (f = 0; f < F; f++)
            for (t = 0; t < T; t++) put(fout, f * T + t, ((raw(st, f, t, floor_) - mu) / sd - lo) / span);
    }
#endif
    return 0;
}

int catuvac_window(const catuvac_state *st, float *window)
{
    return normalize(st, window);
}

int catuvac_decide(catuvac_state *st, catuvac_decision *out)
{
    if (normalize(st, 0)) return 1; /* quantized straight into the network's input buffer */
    classify_quantized(out);
    return 0;
}
