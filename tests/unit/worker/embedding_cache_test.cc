#include "worker/engine/embedding_cache.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "worker/options.h"

namespace vigil::worker {
namespace {

TEST(EmbeddingCache, KeyDependsOnPixelsAndShape) {
  std::vector<uint8_t> px(4 * 6 * 3, 10);
  const std::string a = EmbeddingCache::KeyOf(4, 6, px.data());
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a, EmbeddingCache::KeyOf(4, 6, px.data()));
  EXPECT_NE(a, EmbeddingCache::KeyOf(6, 4, px.data()));  // same bytes, other shape
  px[37] ^= 1;
  EXPECT_NE(a, EmbeddingCache::KeyOf(4, 6, px.data()));
}

EmbeddingCache::Embeddings Floats(size_t n, float v) {
  return std::make_shared<std::vector<float>>(n, v);
}

TEST(EmbeddingCache, HitMissAndLruEvictionByBytes) {
  EmbeddingCache cache(3 * 100 * sizeof(float));  // room for three 100-float entries
  EXPECT_TRUE(cache.enabled());
  EXPECT_EQ(cache.Find("a"), nullptr);
  EXPECT_TRUE(cache.Insert("a", Floats(100, 1)));
  EXPECT_TRUE(cache.Insert("b", Floats(100, 2)));
  EXPECT_TRUE(cache.Insert("c", Floats(100, 3)));
  EXPECT_EQ(cache.bytes(), 300 * sizeof(float));
  ASSERT_NE(cache.Find("a"), nullptr);  // a is now the most recent; b the least
  EXPECT_EQ((*cache.Find("a"))[0], 1);
  EmbeddingCache::Embeddings held = cache.Find("b");
  cache.Find("c");
  cache.Find("a");                                // order: a c b
  EXPECT_TRUE(cache.Insert("d", Floats(100, 4)));  // evicts b
  EXPECT_EQ(cache.Find("b"), nullptr);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.evictions(), 1u);
  ASSERT_NE(held, nullptr);  // an evicted entry in use stays alive
  EXPECT_EQ((*held)[99], 2);
  // A big entry evicts as many as it needs.
  EXPECT_TRUE(cache.Insert("e", Floats(250, 5)));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.bytes(), 250 * sizeof(float));
  EXPECT_NE(cache.Find("e"), nullptr);
  // Larger than the whole capacity: not kept, nothing else lost.
  EXPECT_FALSE(cache.Insert("f", Floats(301, 6)));
  EXPECT_EQ(cache.Find("f"), nullptr);
  EXPECT_NE(cache.Find("e"), nullptr);
  // Replacing a key keeps the byte count right.
  EXPECT_TRUE(cache.Insert("e", Floats(10, 7)));
  EXPECT_EQ(cache.bytes(), 10 * sizeof(float));
  EXPECT_EQ((*cache.Find("e"))[0], 7);
}

TEST(EmbeddingCache, ZeroCapacityDisables) {
  EmbeddingCache cache(0);
  EXPECT_FALSE(cache.enabled());
  EXPECT_FALSE(cache.Insert("a", Floats(1, 1)));
  EXPECT_EQ(cache.Find("a"), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

Result<WorkerOptions> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "vigil-worker");
  return ParseWorkerOptions(static_cast<int>(args.size()), args.data());
}

TEST(EmbeddingCache, WorkerFlag) {
  Result<WorkerOptions> o = Parse({"--fd", "2", "--engine", "chaos"});
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->image_cache_mb, 256);
  o = Parse({"--fd", "2", "--engine", "chaos", "--image-cache-mb", "0"});
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->image_cache_mb, 0);
  EXPECT_FALSE(Parse({"--fd", "2", "--engine", "chaos", "--image-cache-mb", "-1"}).ok());
}

}  // namespace
}  // namespace vigil::worker
