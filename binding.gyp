{
  "targets": [
    {
      "target_name": "sluice",
      "sources": [
        "native/addon.cc",
        "native/boundary.cc",
        "native/build_info.cc",
        "native/block_codec.cc",
        "native/checksum.cc",
        "native/codec_probe.cc",
        "native/decimal_codec.cc",
        "native/gorilla_codec.cc",
        "native/huffman_coder.cc",
        "native/timestamp_codec.cc",
        "native/series_key.cc",
        "native/series_catalog.cc",
        "native/dir_lock.cc",
        "native/file_util.cc",
        "native/wal.cc",
        "native/memtable.cc",
        "native/segment.cc",
        "native/engine.cc",
        "native/window_aggregator.cc",
        "native/window_writer.cc",
        "native/stream_copy.cc",
        "native/parallel_chunks.cc",
        "native/parallel_decoder.cc",
        "native/engine_binding.cc",
        "native/query_kernels.cc",
        "native/line_protocol.cc",
        "native/line_protocol_binding.cc",
        "native/parsed_points_binding.cc",
        "native/event_frame.cc",
        "native/event_frame_binding.cc",
        "native/snappy_decoder.cc",
        "native/remote_write.cc",
        "native/remote_write_binding.cc",
        "native/thread_scheduling.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        # Node-API 8 is the newest level Debian's arm64 Node 18 offers; one prebuild then serves Node 18+.
        "NAPI_VERSION=8",
        "NODE_ADDON_API_CPP_EXCEPTIONS",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "SLUICE_NATIVE_SOURCE_HASH=\"<!(node scripts/native-source-hash.js)\""
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-O3", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fexceptions"],
      "ldflags": ["-static-libstdc++", "-static-libgcc"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++20",
        "OTHER_CPLUSPLUSFLAGS": ["-O3"]
      }
    }
  ]
}
