#include "soi_ring.h"

void soi_ring_reset(soi_ring *ring, int8_t zero_point)
{
    memset(ring->slots, zero_point, 2u * ring->frames * ring->frame_size);
    /* The first push lands in slot 0, so the window then ends with it. */
    ring->head = ring->frames - 1u;
}

void soi_ring_push_spread(soi_ring *ring, const int8_t *frame, uint32_t width, uint32_t channels, uint32_t stride,
                          uint32_t offset)
{
    ring->head = (ring->head + 1u == ring->frames) ? 0u : ring->head + 1u;
    int8_t *slot = ring->slots + ring->head * ring->frame_size + offset * channels;
    int8_t *mirror = slot + ring->frames * ring->frame_size;
    for (uint32_t w = 0; w < width; w++) {
        memcpy(slot + w * stride * channels, frame + w * channels, channels);
        memcpy(mirror + w * stride * channels, frame + w * channels, channels);
    }
}

void soi_concat_channels(int8_t *dst, uint32_t width, uint32_t count, const int8_t *const *srcs,
                         const uint32_t *channels)
{
    for (uint32_t w = 0; w < width; w++) {
        for (uint32_t i = 0; i < count; i++) {
            memcpy(dst, srcs[i] + w * channels[i], channels[i]);
            dst += channels[i];
        }
    }
}

/* A channel shuffle: channel c * count + i of each bin is channel c of input i (all inputs have
 * `channels` channels). */
void soi_interleave_channels(int8_t *dst, uint32_t width, uint32_t count, const int8_t *const *srcs,
                             uint32_t channels)
{
    for (uint32_t w = 0; w < width; w++) {
        for (uint32_t c = 0; c < channels; c++) {
            for (uint32_t i = 0; i < count; i++) {
                *dst++ = srcs[i][w * channels + c];
            }
        }
    }
}

void soi_slice_channels(int8_t *dst, const int8_t *src, uint32_t width, uint32_t channels, uint32_t start,
                        uint32_t count)
{
    for (uint32_t w = 0; w < width; w++) {
        memcpy(dst + w * count, src + w * channels + start, count);
    }
}

void soi_upsample_freq(int8_t *dst, const int8_t *src, uint32_t width, uint32_t channels, uint32_t factor)
{
    for (uint32_t w = 0; w < width; w++) {
        for (uint32_t r = 0; r < factor; r++) {
            memcpy(dst, src + w * channels, channels);
            dst += channels;
        }
    }
}

void soi_table_s8(const int8_t *input, int8_t *output, uint32_t size, const int8_t *table)
{
    for (uint32_t i = 0; i < size; i++) {
        output[i] = table[(int32_t)input[i] + 128];
    }
}
