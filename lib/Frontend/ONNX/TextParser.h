//===- TextParser.h - the ONNX text syntax -----------------------*- C++ -*-===//

#ifndef SPDC_LIB_FRONTEND_ONNX_TEXTPARSER_H
#define SPDC_LIB_FRONTEND_ONNX_TEXTPARSER_H

#include <onnx/onnx_pb.h>

#include <string>

namespace spdc {

/// Parses the ONNX text syntax into `model`; returns an empty string on success, else what is
/// wrong. Never throws.
std::string parseOnnxText(onnx::ModelProto &model, const std::string &text);

} // namespace spdc

#endif // SPDC_LIB_FRONTEND_ONNX_TEXTPARSER_H
