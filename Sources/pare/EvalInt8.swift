import Datasets
import Export
import Foundation
import Networks
import Quantization
import Runs
import Spaces
import TensorCore
import Workflows

extension EvalCommand {
    /// `pare eval DIR --int8`: the int8 model (model.int8.safetensors) on oneDNN.
    func evaluateInt8(_ dir: ModelDirectory, engine: Engine) throws {
        let (d, model) = try dir.load(weights: nil, engine: engine)
        let path = dir.file(Int8ModelFile.file)
        guard FileManager.default.fileExists(atPath: path) else { throw UserError("\(path): not found; run pare quantize \(dir.path) first") }
        let graph = try model.inferenceGraph(model.architecture, mean: d.normalization.mean, std: d.normalization.std).foldingInputNormalization()
        let q = try Int8ModelFile.read(path, graph: graph)
        let (_, val, test, source) = try loadModelData(d, data: data)
        let dataset: Dataset
        switch split {
        case .test: dataset = test
        case .val: dataset = val
        }
        let images = ImageSource(dataset: dataset)
        let dnnl = try DNNLExecutor(q, threads: engine.threads)
        var logits = [Float](), start = 0
        while start < images.count {
            let range = start..<min(images.count, start + batch)
            logits += try dnnl.run(images.pixels(range), batch: range.count)
            start = range.upperBound
        }
        let labels = images.labels(0..<images.count)
        var hits = 0
        var rows = ["index,label,predicted," + (0..<d.classes).map { "logit_\($0)" }.joined(separator: ",")]
        for (i, label) in labels.enumerated() {
            let row = Array(logits[(i * d.classes)..<((i + 1) * d.classes)])
            let predicted = row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }!
            if predicted == label { hits += 1 }
            if predictions != nil { rows.append("\(i),\(label),\(predicted)," + row.map { String($0) }.joined(separator: ",")) }
        }
        if let predictions { try AtomicFile.write(Data((rows.joined(separator: "\n") + "\n").utf8), to: predictions) }
        let accuracy = Double(hits) / Double(max(labels.count, 1))
        let one = images.pixels(0..<1), many = images.pixels(0..<min(batch, images.count)), manyCount = min(batch, images.count)
        let single = LatencyProfiler.medianMs(repeats: repeats) { _ = try? dnnl.run(one, batch: 1) }
        let batched = LatencyProfiler.medianMs(repeats: max(repeats / 5, 3)) { _ = try? dnnl.run(many, batch: manyCount) }
        let kernels = try dnnl.implementations(batch: manyCount)
        let kinds = Dictionary(grouping: kernels, by: \.implementation).map { "\($0.key) x\($0.value.count)" }.sorted()
        print("\(d.architecture)  [int8: \(Int8ModelFile.file), \(q.settings.observer.rawValue) ranges]")
        print(String(format: "%@ split of %@: %d images, int8 accuracy %.4f", split.rawValue, source.description, labels.count, accuracy))
        print(String(format: "int8 latency (oneDNN) %.3f ms at batch 1, %.3f ms at batch %d (%.1f us/image); convolutions: %@",
                     single, batched, manyCount, batched * 1000 / Double(manyCount), kinds.joined(separator: ", ")))
        let out = dir.file("eval-int8-\(split.rawValue).json")
        try AtomicFile.writeJSON([
            "architecture": d.architecture, "weights": Int8ModelFile.file, "split": split.rawValue, "data": source.description, "images": labels.count,
            "accuracy": accuracy, "latency_ms_batch1": single, "latency_ms_batch": batched, "latency_batch": manyCount, "kernels": kinds,
        ], to: out)
        print("written: \(out)" + (predictions.map { ", \($0)" } ?? ""))
    }
}
