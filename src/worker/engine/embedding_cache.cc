#include "worker/engine/embedding_cache.h"

#include "common/sha256.h"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace vigil::worker {

std::string EmbeddingCache::KeyOf(int width, int height, const uint8_t* rgb) {
  Sha256 sha;
  const uint8_t tag[] = {'v', 'i', 'g', 'i', 'l', '-', 'r', 'g', 'b', '8'};
  auto bytes = [](const uint8_t* p, size_t n) {
    return std::string_view(reinterpret_cast<const char*>(p), n);
  };
  sha.Update(bytes(tag, sizeof tag));
  uint8_t dims[8];
  for (int i = 0; i < 4; ++i) {
    dims[i] = static_cast<uint8_t>(static_cast<uint32_t>(width) >> (8 * i));
    dims[4 + i] = static_cast<uint8_t>(static_cast<uint32_t>(height) >> (8 * i));
  }
  sha.Update(bytes(dims, sizeof dims));
  sha.Update(bytes(rgb, static_cast<size_t>(width) * static_cast<size_t>(height) * 3));
  const auto digest = sha.Finish();
  return ToHex(digest.data(), digest.size());
}

EmbeddingCache::Embeddings EmbeddingCache::Find(const std::string& key) {
  if (!enabled()) return nullptr;
  auto it = map_.find(key);
  if (it == map_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->value;
}

void EmbeddingCache::Erase(std::list<Entry>::iterator it) {
  bytes_ -= it->bytes;
  map_.erase(it->key);
  lru_.erase(it);
}

bool EmbeddingCache::Insert(const std::string& key, Embeddings embeddings) {
  if (auto it = map_.find(key); it != map_.end()) Erase(it->second);
  if (!embeddings) return false;
  const size_t size = embeddings->size() * sizeof(float);
  if (!enabled() || size > capacity_) return false;
  while (bytes_ + size > capacity_) {
    Erase(std::prev(lru_.end()));
    ++evictions_;
  }
  lru_.push_front(Entry{key, std::move(embeddings), size});
  map_.emplace(key, lru_.begin());
  bytes_ += size;
  return true;
}

}  // namespace vigil::worker
