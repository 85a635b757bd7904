# Helpers that compile C and WAT sources into .wasm modules with clang/wasm-ld and wat2wasm.
# Modules land in ${CMAKE_BINARY_DIR}/wasm/NAME.wasm and are grouped under the target velum_wasm.
find_program(VELUM_WASM_CLANG NAMES clang-14 clang REQUIRED)
find_program(VELUM_WAT2WASM wat2wasm REQUIRED)
# 64-bit arithmetic may lower to compiler-rt helpers (__multi3); link them when present.
file(GLOB VELUM_WASM_BUILTINS /usr/lib/llvm-14/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a)
set(VELUM_WASM_DIR ${CMAKE_BINARY_DIR}/wasm)
file(MAKE_DIRECTORY ${VELUM_WASM_DIR})
add_custom_target(velum_wasm ALL)

# velum_add_wasm(NAME SOURCE [DEPENDS headers...]): C -> wasm32, every function exported.
function(velum_add_wasm name source)
  cmake_parse_arguments(ARG "" "" "DEPENDS" ${ARGN})
  set(out ${VELUM_WASM_DIR}/${name}.wasm)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${VELUM_WASM_CLANG} --target=wasm32 -O3 -nostdlib -Wl,--no-entry -Wl,--export-all
            -o ${out} ${source} ${VELUM_WASM_BUILTINS}
    DEPENDS ${source} ${ARG_DEPENDS}
    COMMENT "wasm32 ${name}.wasm")
  add_custom_target(wasm_${name} DEPENDS ${out})
  add_dependencies(velum_wasm wasm_${name})
endfunction()

# velum_add_wat(NAME SOURCE): WebAssembly text -> binary.
function(velum_add_wat name source)
  set(out ${VELUM_WASM_DIR}/${name}.wasm)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${VELUM_WAT2WASM} ${source} -o ${out}
    DEPENDS ${source}
    COMMENT "wat2wasm ${name}.wasm")
  add_custom_target(wasm_${name} DEPENDS ${out})
  add_dependencies(velum_wasm wasm_${name})
endfunction()
