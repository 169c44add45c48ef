// messages.h: the typed messages of the worker protocol, version 2.
//
// Each message converts to a Frame (ToFrame) and back (Parse*). Parsing
// validates every field: type, range, and presence; unknown fields are
// ignored so a newer peer can add fields without breaking an older one.
// A parse error means the peer is broken (see frame.h).
//
// Job ids are chosen by the supervisor, unique for the supervisor's life.
// Thread-safety: plain values; free functions are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "protocol/frame.h"

namespace vigil::protocol {

// Worker exit codes: part of the protocol (docs/protocol.md).
inline constexpr int kExitClean = 0;         // asked to shut down
inline constexpr int kExitFatalConfig = 2;   // bad model path, bad flags: do not respawn
inline constexpr int kExitProtocolError = 3; // the supervisor sent garbage or vanished

struct Hello {
  int protocol = kProtocolVersion;
  std::string engine;  // "llama" | "chaos" | another engine's name
  int64_t pid = 0;
};

struct ModelFacts {
  std::string name;          // file stem or general.name
  std::string arch;          // e.g. "gemma3"
  int64_t n_ctx = 0;         // context the worker allocated
  int64_t n_ctx_train = 0;
  int64_t image_size = 0;    // side in pixels the vision encoder wants (0: no vision)
  int64_t n_params = 0;
  std::string device;        // e.g. "CPU", "Vulkan0: NVIDIA H200"
  int64_t device_memory_total = 0;  // bytes, as ggml reports them; 0 if unknown
  int64_t device_memory_free = 0;   // the whole device's, not this worker's
  int64_t gpu_layers = 0;           // layers offloaded to the device (0: CPU only)
  // How prompts are formatted: "gguf" (the model's own chat template) or
  // "builtin:<name>" (the model has none); empty: unknown.
  std::string chat_template;
};

struct Loaded {
  double load_ms = 0;
  ModelFacts model;
  // Jobs the worker runs at once (protocol 2; a version-1 worker omits it
  // and means 1). The supervisor never sends more jobs than this.
  int64_t capacity = 1;
};

struct SamplingParams {
  int64_t max_tokens = 256;
  double temperature = 0.0;
  double top_p = 1.0;
  int64_t top_k = 0;  // 0: disabled
  uint64_t seed = 0;
  std::vector<std::string> stop;
  bool ignore_eos = false;
};

// Fault injection: honoured only by a worker started with --allow-fault-injection.
struct FaultSpec {
  // segfault | abort | hang_busy | hang_syscall | exit | oom | garbage | close_protocol
  std::string kind;
  // before_first_token | after_tokens   (faults at load are a worker flag)
  std::string at = "before_first_token";
  int64_t after_tokens = 0;
  int64_t exit_code = 1;
};

// One part of a chat message: text, or the next image of the job (images
// are referenced in order: the i-th image part is Job::images[i]).
struct ContentPart {
  enum class Kind { kText, kImage };
  Kind kind = Kind::kText;
  std::string text;  // kText only
};

// A conversation turn as the client sent it; the worker renders the model's
// chat template over these.
struct ChatMessage {
  std::string role;  // system | user | assistant (developer arrives as system)
  std::vector<ContentPart> content;
};

inline constexpr size_t kMaxJobImages = 64;  // per job, whatever the front allows

struct Job {
  uint64_t job_id = 0;
  // Text-only view of the request (logs, fingerprint, chaos engine, and the
  // whole user turn when `messages` is empty).
  std::string prompt;
  // The conversation (chat route). Empty: one user turn holding every image,
  // then `prompt`. Its image parts, when present, number images.size().
  std::vector<ChatMessage> messages;
  SamplingParams params;
  int64_t max_image_pixels = 0;  // 0: worker default
  std::optional<FaultSpec> fault;
  // Tokens this job already generated on a worker that died (optional): the
  // worker prefills them after the prompt, streams their text again (the
  // supervisor skips what the client has), counts them as generated, and
  // continues from there. A worker that ignores the field starts over, which
  // is slower and, for a sampled job, may diverge (the supervisor then fails
  // the job rather than send a different text).
  std::vector<int32_t> resume_tokens;
  // Encoded image bytes, in the order the conversation places them. On the
  // wire: header images [{bytes}...], payload their concatenation.
  std::vector<std::string> images;
};

struct Cancel {
  uint64_t job_id = 0;
};

struct Progress {
  uint64_t job_id = 0;
  std::string phase;  // image_decode | image_encode | prefill
  int64_t done = 0;
  int64_t total = 0;
  int64_t image = 0;  // image_decode/image_encode: which image, from 1; 0: not about one image
};

struct Piece {
  uint64_t job_id = 0;
  std::string text;  // whole UTF-8 characters only
  // The ids of the tokens sampled since the previous piece (optional): the
  // supervisor sends them back as Job::resume_tokens when the job must move
  // to another worker, so the generation resumes instead of starting over.
  std::vector<int32_t> tokens;
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

struct Timings {
  double image_decode_ms = 0;
  double image_encode_ms = 0;
  double prefill_ms = 0;
  double decode_ms = 0;
};

struct ImageFacts {
  int64_t width = 0;          // as sent (after EXIF orientation)
  int64_t height = 0;
  int64_t model_width = 0;    // what the encoder was given
  int64_t model_height = 0;
  std::string format;         // jpeg | png | webp | gif
};

struct Done {
  uint64_t job_id = 0;
  std::string text;
  std::string finish_reason;  // stop | length | cancelled
  Usage usage;
  Timings timings;
  std::vector<ImageFacts> images;  // one per image of the job, in order
  int64_t device_memory_free = 0;  // bytes free on the worker's device after the job; 0: unknown
};

// A job failed (job_id != 0), or loading failed (job_id 0: sent once, before
// the worker exits with kExitFatalConfig, so the supervisor knows the typed
// cause, e.g. out_of_memory).
struct Failed {
  uint64_t job_id = 0;
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

struct Heartbeat {
  std::string phase;  // idle | load | image_decode | image_encode | prefill | decode
  uint64_t job_id = 0;      // 0 when idle
  uint64_t progress = 0;    // advances whenever the engine makes progress
};

struct Shutdown {};

Frame ToFrame(const Hello& m);
Frame ToFrame(const Loaded& m);
Frame ToFrame(const Job& m);
Frame ToFrame(const Cancel& m);
Frame ToFrame(const Progress& m);
Frame ToFrame(const Piece& m);
Frame ToFrame(const Done& m);
Frame ToFrame(const Failed& m);
Frame ToFrame(const Heartbeat& m);
Frame ToFrame(const Shutdown& m);

// REQUIRES: frame.type matches the message. Errors name the bad field.
Result<Hello> ParseHello(const Frame& f);
Result<Loaded> ParseLoaded(const Frame& f);
Result<Job> ParseJob(Frame f);  // takes the payload without copying
Result<Cancel> ParseCancel(const Frame& f);
Result<Progress> ParseProgress(const Frame& f);
Result<Piece> ParsePiece(const Frame& f);
Result<Done> ParseDone(const Frame& f);
Result<Failed> ParseFailed(const Frame& f);
Result<Heartbeat> ParseHeartbeat(const Frame& f);

}  // namespace vigil::protocol
