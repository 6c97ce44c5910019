// The one parser (and printer) for the units every subcommand's flags use: durations, rates and
// sizes, as documented once in man/wstool.1.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace wstool {

// `250ms`, `5s`, `2m`, `1h`, also `ns` and `us`; decimals (`1.5s`); a bare number is seconds.
// Refuses signs, exponents, spaces, unknown units and values beyond ~292 years (int64 ns).
bool parse_duration(std::string_view text, std::chrono::nanoseconds& out, std::string& error);

// `2000/s`, `30/m`, `10/h`; decimals (`0.5/s`); a bare number is per second. Returns events per
// second; zero is allowed (callers decide what it means).
bool parse_rate(std::string_view text, double& per_second, std::string& error);

// `512`, `512B`, `64KiB`, `16MiB`, `1GiB`, `1TiB` (1024-based) and `KB`, `MB`, `GB`, `TB`
// (1000-based); units are case-insensitive; decimals with a unit (`1.5MiB`, rounded to whole
// bytes); a bare number is bytes. Refuses values that do not fit in 64 bits.
bool parse_size(std::string_view text, std::uint64_t& bytes, std::string& error);

// The shortest exact spelling in the largest unit that divides the value: 1500ms → "1500ms",
// 120s → "2m", 0 → "0s". Parses back to the same value.
std::string format_duration(std::chrono::nanoseconds value);
// "2000/s"; whole per-minute or per-hour rates as "30/m", "10/h"; otherwise a decimal "/s".
std::string format_rate(double per_second);
// "64KiB", "16MiB"; sizes that are not a whole number of KiB as bare bytes ("1000").
std::string format_size(std::uint64_t bytes);

}  // namespace wstool
