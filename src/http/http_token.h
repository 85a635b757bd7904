// The HTTP API's bearer token: HOME/http.token, made at the first start (0600, this user's),
// refused when others may read it. Requests that change something must carry it.
#ifndef VELUM_HTTP_HTTP_TOKEN_H_
#define VELUM_HTTP_HTTP_TOKEN_H_

#include <filesystem>
#include <string>
#include <string_view>

#include "runtime/error.h"

namespace velum::http {

// The token in `home`/http.token; a new random one (64 hex digits) when the file is missing.
// An error when the file is not a regular file of this user's, may be read by others, or holds
// no usable token.
Result<std::string> LoadOrCreateToken(const std::filesystem::path& home);

// Whether `header` (an Authorization header's value) is "Bearer <token>", compared in a time
// that does not depend on where the two differ.
bool BearerMatches(const std::string& token, std::string_view header);

}  // namespace velum::http

#endif  // VELUM_HTTP_HTTP_TOKEN_H_
