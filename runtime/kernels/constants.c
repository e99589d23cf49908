/* Constant tensors of Swin: the shifted-window attention mask and the relative position index. */
#include "k_internal.h"

#include <string.h>

/* Region label of coordinate c on an axis of length len: the three slices [0, len-win),
 * [len-win, len-shift), [len-shift, len) of the shifted grid. */
static int region(int64_t c, int64_t len, int64_t win, int64_t shift)
{
    return c < len - win ? 0 : c < len - shift ? 1 : 2;
}

void atl_k_attn_mask(int64_t h, int64_t w, int64_t win, int64_t shift, float *out)
{
    assert(win > 0 && h % win == 0 && w % win == 0 && shift >= 0 && shift < win);
    const int64_t nn = win * win, nw = (h / win) * (w / win);
    if (shift == 0) {
        memset(out, 0, sizeof(float) * (size_t)(nw * nn * nn));
        return;
    }
    int64_t wi = 0;
    for (int64_t wy = 0; wy < h / win; wy++)
        for (int64_t wx = 0; wx < w / win; wx++, wi++) {
            float *o = out + wi * nn * nn;
            for (int64_t i = 0; i < nn; i++) {
                const int li = region(wy * win + i / win, h, win, shift) * 3 +
                               region(wx * win + i % win, w, win, shift);
                for (int64_t j = 0; j < nn; j++) {
                    const int lj = region(wy * win + j / win, h, win, shift) * 3 +
                                   region(wx * win + j % win, w, win, shift);
                    o[i * nn + j] = li == lj ? 0.0f : -100.0f;
                }
            }
        }
}

void atl_k_rel_pos_index(int64_t win, int32_t *out)
{
    const int64_t nn = win * win, span = 2 * win - 1;
    for (int64_t i = 0; i < nn; i++)
        for (int64_t j = 0; j < nn; j++) {
            const int64_t dy = i / win - j / win, dx = i % win - j % win;
            out[i * nn + j] = (int32_t)((dy + win - 1) * span + (dx + win - 1));
        }
}
