// embedding_cache.h: a small LRU cache of vision-encoder outputs, so an image
// a worker saw recently is not encoded again.
//
// Key: SHA-256 over the image the encoder is given (width, height and the
// RGB8 pixels after the worker decoded and downscaled it), so the same
// picture hits whatever container or file it arrived in, as long as it
// decodes to the same pixels. A worker holds one model pair for life, so the
// key needs no model part.
// Value: the image chunk's output embeddings (n_tokens * n_embd floats), as
// mtmd_encode_chunk + mtmd_get_output_embd produced them; decoding them again
// gives bit-identical KV entries, hence identical answers.
// Bound: total embedding bytes <= capacity; least recently used entries go
// first. Capacity 0 disables the cache (Find always misses, Insert keeps
// nothing). An entry larger than the whole capacity is not kept.
// Thread-safety: none; one engine, one thread (engine.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace vigil::worker {

class EmbeddingCache {
 public:
  // Shared so an entry evicted while a job still decodes it stays alive.
  // Not const only because mtmd_helper_decode_image_chunk takes float*; it
  // does not write through it.
  using Embeddings = std::shared_ptr<std::vector<float>>;

  explicit EmbeddingCache(size_t capacity_bytes = 0) : capacity_(capacity_bytes) {}

  // The key of an RGB8 image (width * height * 3 bytes, row-major): the
  // SHA-256 of the dimensions and pixels, in hex (64 characters).
  static std::string KeyOf(int width, int height, const uint8_t* rgb);

  bool enabled() const { return capacity_ > 0; }
  // The entry for `key` (now the most recently used), or nullptr.
  Embeddings Find(const std::string& key);
  // Stores or replaces `key`, evicting least recently used entries to fit.
  // False when not kept (disabled, or larger than the capacity).
  bool Insert(const std::string& key, Embeddings embeddings);

  size_t capacity() const { return capacity_; }
  size_t bytes() const { return bytes_; }
  size_t size() const { return map_.size(); }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  uint64_t evictions() const { return evictions_; }

 private:
  struct Entry {
    std::string key;
    Embeddings value;
    size_t bytes;
  };
  void Erase(std::list<Entry>::iterator it);

  size_t capacity_;
  size_t bytes_ = 0;
  std::list<Entry> lru_;  // front: most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> map_;
  uint64_t hits_ = 0, misses_ = 0, evictions_ = 0;
};

}  // namespace vigil::worker
