/* Partial states as mirrored ring buffers: a state of K frames is stored in 2K slots and each
 * new frame is written twice, K slots apart, so the K newest frames are always contiguous
 * (oldest first) and a kernel reads the window in place. Updating costs one frame of writes
 * (twice), never a memmove of the whole window. */
#ifndef SOI_RING_H
#define SOI_RING_H

#include <stdint.h>
#include <string.h>

typedef struct {
    int8_t *slots;        /* 2 * frames * frame_size bytes */
    uint32_t frames;      /* K: frames in the window */
    uint32_t frame_size;  /* bytes per frame */
    uint32_t head;        /* slot of the newest frame, in [0, K) */
} soi_ring;

/* Fill every slot with the input's zero point: what causal zero padding is in int8. */
void soi_ring_reset(soi_ring *ring, int8_t zero_point);

static inline void soi_ring_push(soi_ring *ring, const int8_t *frame)
{
    ring->head = (ring->head + 1u == ring->frames) ? 0u : ring->head + 1u;
    int8_t *slot = ring->slots + ring->head * ring->frame_size;
    memcpy(slot, frame, ring->frame_size);
    memcpy(slot + ring->frames * ring->frame_size, frame, ring->frame_size);
}

/* Push a frame of `width` bins (`channels` bytes each) spread out: bin w goes to bin
 * offset + w * stride of the slot. The bins between keep the zero point soi_ring_reset wrote
 * (zero insertion for a transposed conv in frequency). */
void soi_ring_push_spread(soi_ring *ring, const int8_t *frame, uint32_t width, uint32_t channels, uint32_t stride,
                          uint32_t offset);

/* The window of the K newest frames, oldest first. */
static inline const int8_t *soi_ring_window(const soi_ring *ring)
{
    return ring->slots + (ring->head + 1u) * ring->frame_size;
}

/* Concatenate frames along channels: dst[w] = src0[w] ++ src1[w] ++ ... for w < width. */
void soi_concat_channels(int8_t *dst, uint32_t width, uint32_t count, const int8_t *const *srcs,
                         const uint32_t *channels);
void soi_interleave_channels(int8_t *dst, uint32_t width, uint32_t count, const int8_t *const *srcs,
                             uint32_t channels);

/* Channels [start, start + count) of each of `width` frames of `channels` channels (a channel split). */
void soi_slice_channels(int8_t *dst, const int8_t *src, uint32_t width, uint32_t channels, uint32_t start,
                        uint32_t count);

/* An element-wise int8 op as a 256-entry table: output[i] = table[input[i] + 128] (a conv's ELU in place,
 * an activation layer's sigmoid, tanh, hardsigmoid or hardswish; output may be input). */
void soi_table_s8(const int8_t *input, int8_t *output, uint32_t size, const int8_t *table);

/* Nearest-neighbour upsampling along frequency: each of the width bins (channels bytes) is
 * written factor times. */
void soi_upsample_freq(int8_t *dst, const int8_t *src, uint32_t width, uint32_t channels, uint32_t factor);

#endif
