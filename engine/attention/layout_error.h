// The one error of the attention layout: a layout file, a head-window plan or a combination of
// serving features that cannot run. Its message names the file, the layer and the reason.
#pragma once

#include <stdexcept>

namespace strata::attention {

struct LayoutError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace strata::attention
