//===- TextParser.cpp - the ONNX text syntax, without exceptions escaping --===//
//
// libonnx's OnnxParser reports most errors as a status but lets some escape as C++ exceptions
// (std::stof on a literal such as `-inf`). This file is compiled with exceptions enabled (the
// rest of spdc is not) and turns them into an error message.
//
//===----------------------------------------------------------------------===//

#include "TextParser.h"

#include <onnx/defs/parser.h>

#include <exception>

std::string spdc::parseOnnxText(onnx::ModelProto &model, const std::string &text) {
  try {
    onnx::Common::Status status = onnx::OnnxParser::Parse(model, text.c_str());
    if (!status.IsOK())
      return status.ErrorMessage();
  } catch (const std::exception &e) {
    return std::string("the ONNX text parser failed (") + e.what() + ")";
  } catch (...) {
    return "the ONNX text parser failed";
  }
  return {};
}
