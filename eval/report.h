// The harness's results as Markdown tables on stdout and as JSON, task by task.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/memory_speed_task.h"
#include "eval/passkey_task.h"
#include "eval/teacher_forced_task.h"

namespace strata::eval {

void print_passkey(const PasskeyResult& r, const std::string& reference, const std::string& candidate);
nlohmann::ordered_json passkey_json(const PasskeyResult& r, uint64_t seed);

void print_teacher_forced(const std::vector<TeacherForcedContext>& r, const std::string& reference, const std::string& candidate);
nlohmann::ordered_json teacher_forced_json(const std::vector<TeacherForcedContext>& r, const std::string& text_path,
                                           size_t text_tokens);

void print_memory_speed(const std::vector<MemorySpeedContext>& r, const std::string& reference, const std::string& candidate);
nlohmann::ordered_json memory_speed_json(const std::vector<MemorySpeedContext>& r, int64_t kv_bytes_per_token,
                                         int32_t max_num_batched_tokens);

}  // namespace strata::eval
