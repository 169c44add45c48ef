#include "cli/paths.h"

#include <cstdlib>

#include <filesystem>
#include <vector>

namespace vigil::cli {
namespace fs = std::filesystem;
namespace {

std::vector<fs::path> Roots() {
  const fs::path exe = ExeDir();
  return {exe / "..", exe / ".." / ".."};
}

std::optional<ModelPaths> FromDefaultDir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return std::nullopt;
  ModelPaths m;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".gguf") continue;
    (name.find("mmproj") != std::string::npos ? m.mmproj : m.text) = fs::canonical(entry.path(), ec).string();
  }
  if (m.text.empty() || m.mmproj.empty()) return std::nullopt;
  return m;
}

}  // namespace

std::string ExeDir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : exe.parent_path().string();
}

std::string WorkerBinary() {
  // An override, so a sanitized supervisor can drive plain workers (a
  // sanitized worker cannot start under an address-space limit).
  if (const char* env = std::getenv("VIGIL_WORKER_BINARY"); env && *env) return env;
  return (fs::path(ExeDir()) / "vigil-worker").string();
}

std::optional<ModelPaths> FindDefaultModel() {
  for (const auto& root : Roots()) {
    if (auto m = FromDefaultDir(root / "models" / "default")) return m;
  }
  std::error_code ec;
  for (const auto& root : Roots()) {
    const fs::path text = root / "models" / "vigil-tiny-text.gguf";
    const fs::path mmproj = root / "models" / "vigil-tiny-mmproj.gguf";
    if (fs::exists(text, ec) && fs::exists(mmproj, ec)) {
      return ModelPaths{fs::canonical(text, ec).string(), fs::canonical(mmproj, ec).string()};
    }
  }
  return std::nullopt;
}

std::optional<std::string> FindSamplesDir() {
  std::error_code ec;
  for (const auto& root : Roots()) {
    if (fs::is_directory(root / "samples", ec)) return fs::canonical(root / "samples", ec).string();
  }
  return std::nullopt;
}

}  // namespace vigil::cli
