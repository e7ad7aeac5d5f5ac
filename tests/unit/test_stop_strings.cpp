#include <gtest/gtest.h>

#include "scheduler/stop_strings.h"

namespace strata::scheduler {
namespace {

using Outcome = std::pair<std::string, bool>;  // everything emitted, and whether it stopped

// Feeds deltas one by one.
Outcome run(std::vector<std::string> stops, const std::vector<std::string>& deltas) {
  StopStringMatcher m(std::move(stops));
  std::string out;
  for (const auto& d : deltas) {
    auto r = m.push(d);
    out += r.emit;
    if (r.stopped) return {out, true};
  }
  return {out + m.flush(), false};
}

TEST(StopStrings, StopsBeforeTheMatchEvenAcrossDeltas) {
  EXPECT_EQ(run({"END"}, {"abc E", "N", "D more"}), Outcome("abc ", true));
  EXPECT_EQ(run({"\n\n"}, {"line one\n", "\nline two"}), Outcome("line one", true));
  EXPECT_EQ(run({"stop", "zz"}, {"first zz"}), Outcome("first ", true));
  EXPECT_EQ(run({"stop", "st"}, {"first st"}), Outcome("fir", true));  // "st" already inside "first"
}

TEST(StopStrings, HoldsBackOnlyWhatCouldStartAStop) {
  StopStringMatcher m({"<end>"});
  EXPECT_EQ(m.push("hello <e").emit, "hello ");
  EXPECT_EQ(m.push("x").emit, "<ex");  // no longer a prefix: released
  EXPECT_EQ(m.push("<en").emit, "");
  EXPECT_EQ(m.flush(), "<en");       // the stream ended for another reason
}

TEST(StopStrings, EarliestMatchWinsAndUnicodeIsWhole) {
  EXPECT_EQ(run({"café", "b"}, {"ab", "c café"}), Outcome("a", true));
  EXPECT_EQ(run({"世界"}, {"你好", "世", "界!"}), Outcome("你好", true));
  EXPECT_EQ(run({}, {"no", " stops"}), Outcome("no stops", false));
}

TEST(StopStrings, PushAfterStopIsAnError) {
  StopStringMatcher m({"x"});
  EXPECT_TRUE(m.push("ax").stopped);
  EXPECT_THROW(m.push("more"), std::logic_error);
}

}  // namespace
}  // namespace strata::scheduler
