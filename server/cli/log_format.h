// --log-format: human-readable lines (the default) or one JSON object per line for log
// collectors.
#pragma once

#include <string>

namespace strata::cli {

// "text" or "json"; anything else is a UsageError.
void set_log_format(const std::string& format);

}  // namespace strata::cli
