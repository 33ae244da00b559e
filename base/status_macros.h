// Status plumbing for host code: every fallible call returns absl::Status or absl::StatusOr<T>.
#ifndef GGRT_BASE_STATUS_MACROS_H_
#define GGRT_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define GGRT_CONCAT_INNER_(a, b) a##b
#define GGRT_CONCAT_(a, b) GGRT_CONCAT_INNER_(a, b)

// Returns early from the enclosing function when `expr` yields a non-OK status.
#define RETURN_IF_ERROR(expr)                       \
  do {                                              \
    ::absl::Status ggrt_status_ = (expr);           \
    if (!ggrt_status_.ok()) return ggrt_status_;    \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` binds the value or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  GGRT_ASSIGN_OR_RETURN_IMPL_(GGRT_CONCAT_(ggrt_statusor_, __LINE__), lhs, expr)
#define GGRT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return std::move(tmp).status();    \
  lhs = std::move(tmp).value()

// Returns an InvalidArgument error built from the message parts when `cond` is false.
#define RET_CHECK(cond, ...)                                                         \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      return ::absl::InvalidArgumentError(::absl::StrCat(__VA_ARGS__));              \
    }                                                                                \
  } while (0)

#endif  // GGRT_BASE_STATUS_MACROS_H_
