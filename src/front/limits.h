// limits.h: every limit the HTTP front enforces, with its default.
//
// Each limit is configurable from `vigil serve` and every error that a limit
// causes names the limit and its value, so a client knows what to change.
// Plain value; copy freely.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace vigil::front {

struct Limits {
  size_t max_body_bytes = 64u << 20;    // whole request body
  size_t max_image_bytes = 32u << 20;   // --max-image-bytes, each decoded image
  size_t max_total_image_bytes = 48u << 20;  // --max-total-image-bytes, all images of a request
  size_t max_prompt_bytes = 64u << 10;  // UTF-8 bytes of the prompt
  int max_images = 8;                   // --max-images, per request (<= protocol::kMaxJobImages)
  int64_t max_tokens = 4096;            // ceiling for max_tokens
  int64_t default_max_tokens = 256;
  size_t max_header_bytes = 16u << 10;  // request line + header fields
  int max_parts = 16;                   // multipart/form-data parts
  int max_json_depth = 32;              // nesting of the JSON body
  int64_t max_image_pixels = 50'000'000;  // --max-image-pixels
  bool allow_bmp = false;               // the worker cannot decode BMP
  int max_connections = 512;            // concurrent; beyond: 503 and close
  std::chrono::milliseconds header_timeout{10'000};  // whole header, from first byte
  std::chrono::milliseconds body_timeout{60'000};    // whole body
  std::chrono::milliseconds idle_timeout{60'000};    // keep-alive between requests
  std::chrono::milliseconds write_timeout{60'000};   // one write to a slow reader
};

}  // namespace vigil::front
