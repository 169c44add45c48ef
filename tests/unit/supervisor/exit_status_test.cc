#include "supervisor/exit_status.h"

#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

namespace vigil::supervisor {
namespace {

// Wait statuses as the kernel encodes them.
int Signaled(int sig) { return sig; }
int Exited(int code) { return (code & 0xff) << 8; }

TEST(ExitStatus, SignalIsNamed) {
  auto info = DescribeExit(Signaled(SIGSEGV), KillReason::kNone, false, false);
  EXPECT_EQ(info.cause, "signal");
  EXPECT_EQ(info.signal, SIGSEGV);
  EXPECT_EQ(info.detail, "killed by signal 11 (SIGSEGV)");
  EXPECT_FALSE(info.expected);
  EXPECT_EQ(SignalName(SIGABRT), "SIGABRT");
}

// The worker's seccomp filter traps forbidden calls with SIGSYS.
TEST(ExitStatus, SigsysIsASandboxViolation) {
  auto info = DescribeExit(Signaled(SIGSYS), KillReason::kNone, false, false);
  EXPECT_EQ(info.cause, "sandbox_violation");
  EXPECT_NE(info.detail.find("SIGSYS"), std::string::npos) << info.detail;
  EXPECT_FALSE(info.expected);
}

TEST(ExitStatus, OurKillIsAttributedToItsReason) {
  auto info = DescribeExit(Signaled(SIGKILL), KillReason::kHung, false, false);
  EXPECT_EQ(info.cause, "hung");
  info = DescribeExit(Signaled(SIGKILL), KillReason::kShutdown, true, false);
  EXPECT_TRUE(info.expected);
  // A worker that died of SIGSEGV before our SIGKILL landed keeps its cause.
  info = DescribeExit(Signaled(SIGSEGV), KillReason::kProtocolError, false, false);
  EXPECT_EQ(info.cause, "signal");
}

TEST(ExitStatus, ExitCodesFromTheProtocol) {
  EXPECT_EQ(DescribeExit(Exited(2), KillReason::kNone, false, false).cause, "fatal_config");
  EXPECT_EQ(DescribeExit(Exited(3), KillReason::kNone, false, false).cause, "protocol_error");
  EXPECT_EQ(DescribeExit(Exited(1), KillReason::kNone, false, false).cause, "exit");
  EXPECT_EQ(DescribeExit(Exited(1), KillReason::kNone, false, false).detail, "exited with code 1");
  EXPECT_TRUE(DescribeExit(Exited(0), KillReason::kNone, true, false).expected);
  EXPECT_FALSE(DescribeExit(Exited(0), KillReason::kNone, false, false).expected);
}

TEST(ExitStatus, AllocationFailureIsOom) {
  EXPECT_EQ(DescribeExit(Signaled(SIGABRT), KillReason::kNone, false, true).cause, "oom");
  EXPECT_EQ(DescribeExit(Signaled(SIGABRT), KillReason::kNone, false, false).cause, "signal");
}

}  // namespace
}  // namespace vigil::supervisor
