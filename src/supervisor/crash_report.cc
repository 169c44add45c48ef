#include "supervisor/crash_report.h"

#include "common/log.h"

namespace vigil::supervisor {

nlohmann::json ToJson(const CrashReport& r) {
  nlohmann::json j = {
      {"cause", r.cause},
      {"detail", r.detail},
      {"state", r.state},
      {"phase", r.phase},
      {"slot", r.slot},
      {"incarnation", r.incarnation},
      {"pid", r.pid},
      {"uptime_s", r.uptime_s},
      {"time", Iso8601(r.time)},
      {"stderr_tail", r.stderr_tail},
  };
  j["signal"] = r.signal != 0 ? nlohmann::json(r.signal) : nlohmann::json(nullptr);
  j["signal_name"] = r.signal != 0 ? nlohmann::json(r.signal_name) : nlohmann::json(nullptr);
  j["exit_code"] = r.exit_code >= 0 ? nlohmann::json(r.exit_code) : nlohmann::json(nullptr);
  if (r.job_id != 0) {
    j["job_id"] = r.job_id;
    j["request_id"] = r.request_id;
    j["fingerprint"] = r.fingerprint;
  }
  nlohmann::json jobs = nlohmann::json::array();
  for (const JobTag& t : r.jobs) {
    jobs.push_back({{"job_id", t.job_id}, {"request_id", t.request_id},
                    {"fingerprint", t.fingerprint}, {"exclusive", t.exclusive}});
  }
  j["jobs"] = std::move(jobs);
  if (r.kill_to_reap_ms >= 0) j["kill_to_reap_ms"] = r.kill_to_reap_ms;
  return j;
}

}  // namespace vigil::supervisor
