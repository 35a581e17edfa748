// SHA-256 compression with the x86 SHA extensions (SHA-NI), for SymModel's SHA256 when the CPU has them.
#ifndef CSHA_H
#define CSHA_H
#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has the SHA extensions (and the SSSE3/SSE4.1 they are used with), else 0. Asked of cpuid once.
int csha256_accelerated(void);

/// Compresses `blocks` 64-byte blocks at `data` into `state` (the eight words h0…h7). Only when csha256_accelerated().
void csha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

/// SHA-256 of `length` bytes into `digest` (32 bytes), padding included. Only when csha256_accelerated().
void csha256_digest(const uint8_t *data, size_t length, uint8_t digest[32]);

#endif
