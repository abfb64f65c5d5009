#include "engine_binding.h"

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "engine.h"
#include "errors.h"
#include "event_frame_binding.h"
#include "line_protocol_binding.h"
#include "parsed_points_binding.h"
#include "query_kernels.h"
#include "remote_write_binding.h"
#include "series_key.h"
#include "typed_columns.h"

namespace sluice {
namespace {

// Marks externals made here, so a foreign object passed back in is an error, not a crash.
constexpr napi_type_tag kEngineHandleTag = {0x5b1c3e0d2a4f4e11ull, 0x9d3f6a7b8c2e1d05ull};

constexpr const char* kClosed = "SLUICE_CLOSED";

// What a JS engine object owns: a share of the process-wide engine, and the count of its
// operations still running on worker threads (close waits for them).
struct EngineHandle {
  std::shared_ptr<Engine> engine;
  bool closing = false;
  std::mutex mutex;
  std::condition_variable idle;
  int pending = 0;
};

[[noreturn]] void ThrowCoded(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  throw error;
}

EngineHandle& RequireHandle(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) {
    ThrowTypeError(info.Env(), kInvalidArgument, "argument 0 must be an engine handle");
  }
  auto external = info[0].As<Napi::External<EngineHandle>>();
  if (!external.CheckTypeTag(&kEngineHandleTag)) {
    ThrowTypeError(info.Env(), kInvalidArgument, "argument 0 is not an engine handle");
  }
  EngineHandle& handle = *external.Data();
  if (handle.closing || !handle.engine) ThrowCoded(info.Env(), kClosed, "the database is closed");
  return handle;
}

std::string RequireString(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsString()) {
    ThrowTypeError(info.Env(), kInvalidArgument, std::string(what) + " must be a string");
  }
  return info[index].As<Napi::String>().Utf8Value();
}

// name + flat [k1, v1, k2, v2, ...] -> canonical series key.
std::string SeriesKeyFrom(const Napi::CallbackInfo& info, size_t name_index) {
  std::string name = RequireString(info, name_index, "series");
  if (info.Length() <= name_index + 1 || !info[name_index + 1].IsArray()) {
    ThrowTypeError(info.Env(), kInvalidArgument, "tags must be an array of key, value strings");
  }
  Napi::Array flat = info[name_index + 1].As<Napi::Array>();
  if (flat.Length() % 2 != 0 || flat.Length() / 2 > kMaxTagsPerSeries) {
    ThrowTypeError(info.Env(), kInvalidArgument, "tags must hold key, value pairs (at most 64)");
  }
  std::vector<std::string> strings(flat.Length());
  for (uint32_t i = 0; i < flat.Length(); ++i) {
    Napi::Value item = flat.Get(i);
    if (!item.IsString()) ThrowTypeError(info.Env(), kInvalidArgument, "every tag key and value must be a string");
    strings[i] = item.As<Napi::String>().Utf8Value();
  }
  std::vector<TagView> tags;
  for (size_t i = 0; i < strings.size(); i += 2) tags.push_back({strings[i], strings[i + 1]});
  std::string key, error;
  if (!BuildSeriesKey(name, tags, key, error)) ThrowTypeError(info.Env(), kInvalidArgument, error);
  return key;
}

int64_t RequireTimestamp(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() > index && info[index].IsBigInt()) {
    bool lossless = false;
    int64_t value = info[index].As<Napi::BigInt>().Int64Value(&lossless);
    if (lossless) return value;
  } else if (info.Length() > index && info[index].IsNumber()) {
    double value = info[index].As<Napi::Number>().DoubleValue();
    if (std::isfinite(value) && value == std::trunc(value) && std::fabs(value) < 9.2e18) return static_cast<int64_t>(value);
  }
  ThrowTypeError(info.Env(), kInvalidArgument, std::string(what) + " must be an integer number of microseconds (int64)");
}

void ThrowEngineError(Napi::Env env, const EngineError& error) { ThrowCoded(env, error.code, error.message); }

// engineOpen(dir, durability 0|1|2, syncIntervalMs, memtableBytes, retentionUs (0: forever),
//            compactionTrigger (0: no background merges),
//            downsample: { series, everyUs: bigint, label, opsMask }[], queryThreads,
//            walMapped 0|1): EngineHandle
Napi::Value EngineOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EngineOptions options;
  options.dir = RequireString(info, 0, "dir");
  const size_t durability = RequireCount(info, 1, 2);
  options.durability = static_cast<Durability>(durability);
  options.sync_interval_ms = static_cast<uint32_t>(RequireCount(info, 2, 60'000));
  options.memtable_bytes = RequireCount(info, 3, size_t{1} << 40);
  options.retention_us = RequireTimestamp(info, 4, "retentionUs");
  if (options.retention_us < 0) ThrowRangeError(env, kInvalidArgument, "retentionUs must not be negative");
  options.compaction_trigger = static_cast<uint32_t>(RequireCount(info, 5, 1000));
  if (info.Length() <= 6 || !info[6].IsArray()) ThrowTypeError(env, kInvalidArgument, "downsample must be an array");
  Napi::Array rules = info[6].As<Napi::Array>();
  for (uint32_t i = 0; i < rules.Length(); ++i) {
    Napi::Value item = rules.Get(i);
    if (!item.IsObject()) ThrowTypeError(env, kInvalidArgument, "downsample[" + std::to_string(i) + "] must be an object");
    Napi::Object rule = item.As<Napi::Object>();
    DownsampleRule parsed;
    bool lossless = false;
    if (!rule.Get("series").IsString() || !rule.Get("label").IsString() || !rule.Get("everyUs").IsBigInt() ||
        !rule.Get("opsMask").IsNumber()) {
      ThrowTypeError(env, kInvalidArgument, "downsample[" + std::to_string(i) + "] needs series, label, everyUs, opsMask");
    }
    parsed.series = rule.Get("series").As<Napi::String>().Utf8Value();
    parsed.label = rule.Get("label").As<Napi::String>().Utf8Value();
    parsed.every_us = rule.Get("everyUs").As<Napi::BigInt>().Int64Value(&lossless);
    const uint32_t mask = rule.Get("opsMask").As<Napi::Number>().Uint32Value();
    if (!lossless || parsed.every_us <= 0 || parsed.series.empty() || mask == 0 || mask > 0x7f) {
      ThrowRangeError(env, kInvalidArgument, "downsample[" + std::to_string(i) + "] is out of range");
    }
    parsed.ops_mask = static_cast<uint8_t>(mask);
    options.downsample.push_back(std::move(parsed));
  }
  options.query_threads = static_cast<unsigned>(RequireCount(info, 7, 64));
  options.wal_mapped = RequireCount(info, 8, 1) == 1;
  EngineError error;
  std::shared_ptr<Engine> engine = Engine::Open(options, error);
  if (!engine) ThrowEngineError(env, error);
  auto* handle = new EngineHandle();
  handle->engine = std::move(engine);
  // If JS drops the object without close(), the finalizer releases this share of the engine.
  auto external = Napi::External<EngineHandle>::New(env, handle, [](Napi::Env, EngineHandle* h) { delete h; });
  external.TypeTag(&kEngineHandleTag);
  return external;
}

// engineWrite(handle, series, tags, timestamps: BigInt64Array | Float64Array, values: Float64Array): undefined
Napi::Value EngineWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EngineHandle& handle = RequireHandle(info);
  const std::string key = SeriesKeyFrom(info, 1);
  Napi::TypedArray values_array = RequireTypedArray(info, 4, napi_float64_array, "values: a Float64Array");
  const size_t count = values_array.ElementLength();
  const double* values = values_array.As<Napi::Float64Array>().Data();
  if (info.Length() < 4 || !info[3].IsTypedArray()) {
    ThrowTypeError(env, kInvalidArgument, "timestamps must be a BigInt64Array or a Float64Array");
  }
  Napi::TypedArray ts_array = info[3].As<Napi::TypedArray>();
  if (ts_array.ElementLength() != count) {
    ThrowRangeError(env, kInvalidArgument, "timestamps and values must have the same length");
  }
  if (count == 0) return env.Undefined();
  std::vector<int64_t> converted;
  const int64_t* timestamps;
  if (ts_array.TypedArrayType() == napi_bigint64_array) {
    timestamps = reinterpret_cast<const int64_t*>(
        static_cast<const uint8_t*>(ts_array.ArrayBuffer().Data()) + ts_array.ByteOffset());
  } else if (ts_array.TypedArrayType() == napi_float64_array) {
    const double* source = ts_array.As<Napi::Float64Array>().Data();
    converted.resize(count);
    for (size_t i = 0; i < count; ++i) {
      const double t = source[i];
      if (!(std::isfinite(t) && t == std::trunc(t) && std::fabs(t) < 9.2e18)) {
        ThrowRangeError(env, kInvalidArgument, "timestamps[" + std::to_string(i) + "] is not an integer number of microseconds");
      }
      converted[i] = static_cast<int64_t>(t);
    }
    timestamps = converted.data();
  } else {
    ThrowTypeError(env, kInvalidArgument, "timestamps must be a BigInt64Array or a Float64Array");
  }
  EngineError error;
  if (!handle.engine->Write(key, timestamps, values, count, error)) ThrowEngineError(env, error);
  return env.Undefined();
}

// engineWritePoint(handle, series, tags, timestamp: bigint | number, value: number): undefined
Napi::Value EngineWritePoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EngineHandle& handle = RequireHandle(info);
  const std::string key = SeriesKeyFrom(info, 1);
  const int64_t timestamp = RequireTimestamp(info, 3, "timestamp");
  const double value = RequireNumber(info, 4);
  EngineError error;
  if (!handle.engine->Write(key, &timestamp, &value, 1, error)) ThrowEngineError(env, error);
  return env.Undefined();
}

// Writes a parsed network batch, then gives the thread's batch back (also when the write fails).
// Returns { points, skippedStringFields, batch? }: `batch` (the parsed columns) only when argument
// `with_points_index` is true — live queries need the points, and parsing twice would cost more.
Napi::Object WriteParsed(const Napi::CallbackInfo& info, EngineHandle& handle, ParsedPoints& parsed,
                         size_t with_points_index) {
  Napi::Env env = info.Env();
  const bool with_points = info.Length() > with_points_index && info[with_points_index].ToBoolean().Value();
  EngineError error;
  const bool written = parsed.values.empty() ||
                       handle.engine->WriteMany(parsed.series_keys, parsed.key_index.data(), parsed.timestamps_us.data(),
                                                parsed.values.data(), parsed.values.size(), error);
  Napi::Object out = Napi::Object::New(env);
  if (written) {
    out.Set("points", Napi::Number::New(env, static_cast<double>(parsed.values.size())));
    out.Set("skippedStringFields", Napi::Number::New(env, static_cast<double>(parsed.skipped_string_fields)));
    if (with_points) out.Set("batch", ParsedPointsObject(env, parsed));
  }
  ReleaseParsedPoints(parsed);
  if (!written) ThrowEngineError(env, error);
  return out;
}

// engineWriteLines(handle, input: Uint8Array, precision, defaultTimestampUs: bigint, withPoints?)
//   : { points, skippedStringFields, batch? } — parsed whole first: a malformed line writes nothing.
Napi::Value EngineWriteLines(const Napi::CallbackInfo& info) {
  EngineHandle& handle = RequireHandle(info);
  return WriteParsed(info, handle, ParseLineArguments(info, 1), 4);
}

// engineWriteEventFrame(handle, input: Uint8Array, withPoints?): { points, batch? } — a WebSocket
// binary message of Slung events, parsed whole, then written (nothing on a bad byte: SLUICE_FRAME)
Napi::Value EngineWriteEventFrame(const Napi::CallbackInfo& info) {
  EngineHandle& handle = RequireHandle(info);
  return WriteParsed(info, handle, ParseEventFrameArgument(info, 1), 2);
}

// engineWriteRemoteWrite(handle, body: Uint8Array, maxUncompressedBytes, withPoints?): { points, batch? }
// — a Prometheus remote_write body (snappy + protobuf), decoded whole, then written (nothing on a
// bad byte: SLUICE_PARSE; a declared size over the limit: SLUICE_TOO_LARGE)
Napi::Value EngineWriteRemoteWrite(const Napi::CallbackInfo& info) {
  EngineHandle& handle = RequireHandle(info);
  return WriteParsed(info, handle, ParseRemoteWriteArguments(info, 1), 3);
}

// The arguments every read starts with: (handle, series, tags, start, end).
struct ReadArguments {
  EngineHandle& handle;
  std::string key;
  int64_t start;
  int64_t end;
};

ReadArguments RequireReadArguments(const Napi::CallbackInfo& info) {
  EngineHandle& handle = RequireHandle(info);
  std::string key = SeriesKeyFrom(info, 1);
  const int64_t start = RequireTimestamp(info, 3, "start");
  const int64_t end = RequireTimestamp(info, 4, "end");
  return {handle, std::move(key), start, end};
}

// engineAggregate(handle, series, tags, start, end, op 0..6):
//   { count, value, sum, min, max, first, last, firstTime, lastTime }
Napi::Value EngineAggregate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ReadArguments read = RequireReadArguments(info);
  const auto op = static_cast<AggregateOp>(RequireCount(info, 5, 6));
  AggregateResult result;
  EngineError error;
  if (!read.handle.engine->Aggregate(read.key, read.start, read.end, op, result, error)) ThrowEngineError(env, error);
  Napi::Object out = Napi::Object::New(env);
  out.Set("count", Napi::Number::New(env, static_cast<double>(result.count)));
  out.Set("value", Napi::Number::New(env, result.value));
  out.Set("sum", Napi::Number::New(env, result.sum));
  out.Set("min", Napi::Number::New(env, result.min));
  out.Set("max", Napi::Number::New(env, result.max));
  out.Set("first", Napi::Number::New(env, result.first));
  out.Set("last", Napi::Number::New(env, result.last));
  out.Set("firstTime", Napi::BigInt::New(env, result.first_time));
  out.Set("lastTime", Napi::BigInt::New(env, result.last_time));
  return out;
}

// engineAggregateWindows(handle, series, tags, start, end, everyUs, op[, intoStarts, intoValues]):
//   { starts: BigInt64Array, values: Float64Array } | { first, count }
// With intoStarts/intoValues (checked in TypeScript: same length, separate memory) the windows are
// written into them when the engine's bound on the windows fits, at [first, first + count).
Napi::Value EngineAggregateWindows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ReadArguments read = RequireReadArguments(info);
  const int64_t every = RequireTimestamp(info, 5, "every");
  if (every <= 0) ThrowRangeError(env, kInvalidArgument, "every must be a positive number of microseconds");
  const auto op = static_cast<AggregateOp>(RequireCount(info, 6, 6));
  Napi::BigInt64Array starts;
  Napi::Float64Array values;
  bool reused = false;
  if (info.Length() > 7 && !info[7].IsUndefined()) {
    starts = RequireTypedArray(info, 7, napi_bigint64_array, "into.starts: a BigInt64Array").As<Napi::BigInt64Array>();
    values = RequireTypedArray(info, 8, napi_float64_array, "into.values: a Float64Array").As<Napi::Float64Array>();
    if (starts.ElementLength() != values.ElementLength()) {
      ThrowRangeError(env, kInvalidArgument, "into.starts and into.values must have the same length");
    }
    const auto* starts_begin = reinterpret_cast<const uint8_t*>(starts.Data());
    const auto* values_begin = reinterpret_cast<const uint8_t*>(values.Data());
    const size_t bytes = starts.ElementLength() * 8;
    if (bytes > 0 && starts_begin < values_begin + bytes && values_begin < starts_begin + bytes) {
      ThrowRangeError(env, kInvalidArgument, "into.starts and into.values must not share memory");
    }
  }
  // The engine writes straight into memory sized by its bound on the windows: a million windows
  // are 16 MB, which a copy from native buffers would cost as much again, and which fresh memory
  // costs again in page faults, hence the caller's own arrays when given.
  size_t first = 0, count = 0;
  EngineError error;
  const bool ok = read.handle.engine->AggregateWindows(
      read.key, read.start, read.end, every, op,
      [&](size_t capacity) {
        if (!starts.IsEmpty() && capacity <= starts.ElementLength()) {
          reused = true;
        } else {
          starts = UninitializedTypedArray<Napi::BigInt64Array>(env, capacity);
          values = UninitializedTypedArray<Napi::Float64Array>(env, capacity);
        }
        return ResultColumns{starts.Data(), values.Data()};
      },
      first, count, error);
  if (!ok) ThrowEngineError(env, error);
  Napi::Object out = Napi::Object::New(env);
  if (reused) {  // the caller views its own arrays (they may be on a SharedArrayBuffer)
    out.Set("first", Napi::Number::New(env, static_cast<double>(first)));
    out.Set("count", Napi::Number::New(env, static_cast<double>(count)));
  } else {
    out.Set("starts", FitTypedArray(env, starts, first, count));
    out.Set("values", FitTypedArray(env, values, first, count));
  }
  return out;
}

// engineScan(handle, series, tags, start, end, limit): { timestamps: BigInt64Array, values: Float64Array }
Napi::Value EngineScan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ReadArguments read = RequireReadArguments(info);
  const size_t limit = RequireCount(info, 5, size_t{1} << 24);
  Napi::BigInt64Array timestamps;
  Napi::Float64Array values;
  size_t count = 0;
  EngineError error;
  const bool ok = read.handle.engine->Scan(
      read.key, read.start, read.end, limit,
      [&](size_t capacity) {
        timestamps = UninitializedTypedArray<Napi::BigInt64Array>(env, capacity);
        values = UninitializedTypedArray<Napi::Float64Array>(env, capacity);
        return ResultColumns{timestamps.Data(), values.Data()};
      },
      count, error);
  if (!ok) ThrowEngineError(env, error);
  Napi::Object out = Napi::Object::New(env);
  out.Set("timestamps", FitTypedArray(env, timestamps, 0, count));
  out.Set("values", FitTypedArray(env, values, 0, count));
  return out;
}

// Runs `work` on a libuv worker thread and settles a promise; counts as pending work on the handle.
class EngineWorker : public Napi::AsyncWorker {
 public:
  EngineWorker(const Napi::CallbackInfo& info, EngineHandle& handle, std::function<bool(EngineError&)> work)
      : Napi::AsyncWorker(info.Env()),
        handle_(handle),
        // Keeps the JS handle (and so `handle_`) alive until OnOK, even if the caller drops it.
        keep_alive_(Napi::Persistent(info[0])),
        work_(std::move(work)),
        deferred_(Napi::Promise::Deferred::New(info.Env())) {
    std::lock_guard<std::mutex> lock(handle_.mutex);
    ++handle_.pending;
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {  // worker thread: no Node-API here
    ok_ = work_(error_);
    std::lock_guard<std::mutex> lock(handle_.mutex);
    --handle_.pending;
    handle_.idle.notify_all();
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (ok_) {
      deferred_.Resolve(env.Undefined());
    } else {
      Napi::Error error = Napi::Error::New(env, error_.message);
      error.Set("code", Napi::String::New(env, error_.code));
      deferred_.Reject(error.Value());
    }
  }

 private:
  EngineHandle& handle_;
  Napi::Reference<Napi::Value> keep_alive_;
  std::function<bool(EngineError&)> work_;
  Napi::Promise::Deferred deferred_;
  EngineError error_;
  bool ok_ = false;
};

// Runs an engine operation on a libuv worker thread; returns its promise.
Napi::Value QueueEngineWork(const Napi::CallbackInfo& info, bool (Engine::*operation)(EngineError&)) {
  EngineHandle& handle = RequireHandle(info);
  std::shared_ptr<Engine> engine = handle.engine;
  auto* worker =
      new EngineWorker(info, handle, [engine, operation](EngineError& error) { return ((*engine).*operation)(error); });
  worker->Queue();
  return worker->Promise();
}

// engineFlush(handle): Promise<void>
Napi::Value EngineFlush(const Napi::CallbackInfo& info) { return QueueEngineWork(info, &Engine::Flush); }

// engineCompact(handle): Promise<void>
Napi::Value EngineCompact(const Napi::CallbackInfo& info) { return QueueEngineWork(info, &Engine::Compact); }

// engineApplyRetention(handle, nowUs): number of segments dropped
Napi::Value EngineApplyRetention(const Napi::CallbackInfo& info) {
  EngineHandle& handle = RequireHandle(info);
  const int64_t now_us = RequireTimestamp(info, 1, "now");
  return Napi::Number::New(info.Env(), static_cast<double>(handle.engine->ApplyRetention(now_us)));
}

// engineClose(handle): Promise<void> — waits for this handle's pending work, then releases its
// share of the engine (the last share syncs the log and stops the background thread).
Napi::Value EngineClose(const Napi::CallbackInfo& info) {
  EngineHandle& handle = RequireHandle(info);
  handle.closing = true;
  EngineHandle* raw = &handle;
  auto* worker = new EngineWorker(info, handle, [raw](EngineError&) {
    std::shared_ptr<Engine> released;
    {
      std::unique_lock<std::mutex> lock(raw->mutex);
      raw->idle.wait(lock, [&] { return raw->pending == 1; });  // 1: this close itself
      released = std::move(raw->engine);
    }
    released.reset();  // may run the engine's shutdown here, off the main thread
    return true;
  });
  worker->Queue();
  return worker->Promise();
}

Napi::Value EngineStatsValue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EngineHandle& handle = RequireHandle(info);
  EngineStats stats = handle.engine->Stats();
  Napi::Object out = Napi::Object::New(env);
  auto set = [&](const char* name, uint64_t value) { out.Set(name, Napi::Number::New(env, static_cast<double>(value))); };
  set("memtablePoints", stats.memtable_points);
  set("memtableBytes", stats.memtable_bytes);
  set("memtableSeries", stats.memtable_series);
  set("pointsWritten", stats.points_written);
  set("series", stats.series);
  set("segments", stats.segments);
  set("segmentBytes", stats.segment_bytes);
  set("segmentPoints", stats.segment_points);
  set("walBytesWritten", stats.wal_bytes_written);
  set("walUnsyncedBytes", stats.wal_unsynced_bytes);
  set("flushes", stats.flushes);
  set("compactions", stats.compactions);
  set("segmentsDroppedByRetention", stats.segments_dropped_by_retention);
  set("recoveredPoints", stats.recovered_points);
  set("recoveredTruncatedBytes", stats.recovered_truncated_bytes);
  Napi::Array unreadable = Napi::Array::New(env, stats.unreadable_segments.size());
  for (uint32_t i = 0; i < stats.unreadable_segments.size(); ++i) unreadable.Set(i, stats.unreadable_segments[i]);
  out.Set("unreadableSegments", unreadable);
  out.Set("backgroundError", stats.background_error.empty() ? env.Null() : Napi::String::New(env, stats.background_error));
  out.Set("dir", handle.engine->dir());
  return out;
}

// engineSeriesKeys(handle, from): string[] — the series keys first seen after the first `from`
Napi::Value EngineSeriesKeys(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EngineHandle& handle = RequireHandle(info);
  const size_t from = RequireCount(info, 1, size_t{1} << 40);
  std::vector<std::string> keys;
  handle.engine->SeriesKeysSince(from, keys);
  Napi::Array out = Napi::Array::New(env, keys.size());
  for (uint32_t i = 0; i < keys.size(); ++i) out.Set(i, Napi::String::New(env, keys[i]));
  return out;
}

// The canonical keys in argument `index`: an array of non-empty strings (lib/query passes them).
std::vector<std::string> RequireKeys(const Napi::CallbackInfo& info, size_t index) {
  if (!info[index].IsArray()) ThrowTypeError(info.Env(), kInvalidArgument, "keys must be an array of series keys");
  Napi::Array array = info[index].As<Napi::Array>();
  std::vector<std::string> keys(array.Length());
  for (uint32_t i = 0; i < keys.size(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsString()) ThrowTypeError(info.Env(), kInvalidArgument, "keys must be an array of series keys");
    keys[i] = item.As<Napi::String>().Utf8Value();
    if (keys[i].empty() || keys[i].size() > kMaxSeriesKeyBytes) {
      ThrowRangeError(info.Env(), kInvalidArgument, "a series key must have 1.." + std::to_string(kMaxSeriesKeyBytes) + " bytes");
    }
  }
  return keys;
}

// The leading arguments of the query kernels: (handle, keys, start, end).
struct KernelArguments {
  EngineHandle& handle;
  std::vector<std::string> keys;
  int64_t start;
  int64_t end;
};

KernelArguments RequireKernelArguments(const Napi::CallbackInfo& info) {
  EngineHandle& handle = RequireHandle(info);
  std::vector<std::string> keys = RequireKeys(info, 1);
  const int64_t start = RequireTimestamp(info, 2, "start");
  const int64_t end = RequireTimestamp(info, 3, "end");
  return {handle, std::move(keys), start, end};
}

// engineMoments(handle, keys, start, end): { count, mean, m2 } over every point of those series
Napi::Value EngineMoments(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const KernelArguments args = RequireKernelArguments(info);
  Moments moments;
  EngineError error;
  if (!ComputeMoments(*args.handle.engine, args.keys, args.start, args.end, moments, error)) ThrowEngineError(env, error);
  Napi::Object out = Napi::Object::New(env);
  out.Set("count", Napi::Number::New(env, static_cast<double>(moments.count)));
  out.Set("mean", Napi::Number::New(env, moments.mean));
  out.Set("m2", Napi::Number::New(env, moments.m2));
  return out;
}

// engineQuantiles(handle, keys, start, end, quantiles: Float64Array in [0, 1], maxValues):
//   { count, values: Float64Array }
Napi::Value EngineQuantiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const KernelArguments args = RequireKernelArguments(info);
  Napi::TypedArray array = RequireTypedArray(info, 4, napi_float64_array, "quantiles: a Float64Array");
  const double* data = array.As<Napi::Float64Array>().Data();
  std::vector<double> quantiles(data, data + array.ElementLength());
  for (double q : quantiles) {
    if (!(q >= 0 && q <= 1)) ThrowRangeError(env, kInvalidArgument, "quantiles must be in [0, 1]");
  }
  const uint64_t max_values = RequireCount(info, 5, uint64_t{1} << 40);
  std::vector<double> results;
  uint64_t count = 0;
  EngineError error;
  if (!ComputeQuantiles(*args.handle.engine, args.keys, args.start, args.end, quantiles, max_values, results, count, error)) {
    ThrowEngineError(env, error);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("count", Napi::Number::New(env, static_cast<double>(count)));
  out.Set("values", ToTypedArray<Napi::Float64Array>(env, results));
  return out;
}

// engineWindowKernel(handle, keys, start, end, everyUs, op 0..5, quantile, maxValues):
//   { starts: BigInt64Array, values: Float64Array } — op: stddev, quantile, first, last, delta, rate
Napi::Value EngineWindowKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const KernelArguments args = RequireKernelArguments(info);
  WindowKernelRequest request;
  request.start = args.start;
  request.end = args.end;
  request.every_us = RequireTimestamp(info, 4, "every");
  if (request.every_us <= 0) ThrowRangeError(env, kInvalidArgument, "every must be a positive number of microseconds");
  request.op = static_cast<WindowKernelOp>(RequireCount(info, 5, 5));
  if (!info[6].IsNumber()) ThrowTypeError(env, kInvalidArgument, "quantile must be a number in [0, 1]");
  request.quantile = info[6].As<Napi::Number>().DoubleValue();
  if (!(request.quantile >= 0 && request.quantile <= 1)) ThrowRangeError(env, kInvalidArgument, "quantile must be in [0, 1]");
  request.max_values = RequireCount(info, 7, uint64_t{1} << 40);
  std::vector<int64_t> starts;
  std::vector<double> values;
  EngineError error;
  if (!ComputeWindows(*args.handle.engine, args.keys, request, starts, values, error)) ThrowEngineError(env, error);
  Napi::Object out = Napi::Object::New(env);
  out.Set("starts", ToTypedArray<Napi::BigInt64Array>(env, starts));
  out.Set("values", ToTypedArray<Napi::Float64Array>(env, values));
  return out;
}

// engineWalPositions(handle): { written, synced } — log byte positions, for durable acks
Napi::Value EngineWalPositions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EngineHandle& handle = RequireHandle(info);
  uint64_t written = 0, synced = 0;
  handle.engine->WalPositions(written, synced);
  Napi::Object out = Napi::Object::New(env);
  out.Set("written", Napi::Number::New(env, static_cast<double>(written)));
  out.Set("synced", Napi::Number::New(env, static_cast<double>(synced)));
  return out;
}

// seriesKey(series, tags): string — the canonical key (native/series_key.h)
Napi::Value SeriesKey(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), SeriesKeyFrom(info, 0));
}

}  // namespace

void RegisterEngine(Napi::Env env, Napi::Object exports) {
  exports.Set("engineOpen", Napi::Function::New(env, EngineOpen, "engineOpen"));
  exports.Set("engineWrite", Napi::Function::New(env, EngineWrite, "engineWrite"));
  exports.Set("engineWritePoint", Napi::Function::New(env, EngineWritePoint, "engineWritePoint"));
  exports.Set("engineWriteLines", Napi::Function::New(env, EngineWriteLines, "engineWriteLines"));
  exports.Set("engineWriteEventFrame", Napi::Function::New(env, EngineWriteEventFrame, "engineWriteEventFrame"));
  exports.Set("engineWriteRemoteWrite", Napi::Function::New(env, EngineWriteRemoteWrite, "engineWriteRemoteWrite"));
  exports.Set("engineAggregate", Napi::Function::New(env, EngineAggregate, "engineAggregate"));
  exports.Set("engineAggregateWindows", Napi::Function::New(env, EngineAggregateWindows, "engineAggregateWindows"));
  exports.Set("engineScan", Napi::Function::New(env, EngineScan, "engineScan"));
  exports.Set("engineFlush", Napi::Function::New(env, EngineFlush, "engineFlush"));
  exports.Set("engineCompact", Napi::Function::New(env, EngineCompact, "engineCompact"));
  exports.Set("engineApplyRetention", Napi::Function::New(env, EngineApplyRetention, "engineApplyRetention"));
  exports.Set("engineClose", Napi::Function::New(env, EngineClose, "engineClose"));
  exports.Set("engineStats", Napi::Function::New(env, EngineStatsValue, "engineStats"));
  exports.Set("engineSeriesKeys", Napi::Function::New(env, EngineSeriesKeys, "engineSeriesKeys"));
  exports.Set("engineMoments", Napi::Function::New(env, EngineMoments, "engineMoments"));
  exports.Set("engineQuantiles", Napi::Function::New(env, EngineQuantiles, "engineQuantiles"));
  exports.Set("engineWindowKernel", Napi::Function::New(env, EngineWindowKernel, "engineWindowKernel"));
  exports.Set("engineWalPositions", Napi::Function::New(env, EngineWalPositions, "engineWalPositions"));
  exports.Set("seriesKey", Napi::Function::New(env, SeriesKey, "seriesKey"));
}

}  // namespace sluice
