import Foundation
import Workflows

/// Prints to stderr, line-buffered (progress and log lines; stdout carries results).
func logLine(_ s: String) {
    FileHandle.standardError.write((s + "\n").data(using: .utf8)!)
}

/// The closing lines of a training run on stdout.
func printTrainingSummary(_ s: TrainingSummary) {
    print(String(format: "trained %d steps in %.1f s (%.0f img/s; %.0f img/s without the %.1f s of epoch-end probes), peak memory %.0f MiB",
                 s.steps, s.seconds, s.imagesPerSecond, s.trainingImagesPerSecond, s.probeSeconds, s.peakMemoryMiB))
    for p in s.probes {
        print(String(format: "%-9@ %6.3f M MACs %7d params  %@ %.4f  | %@", p.name, Double(p.macs) / 1e6, p.parameters, s.scoreLabel, p.accuracy, p.architecture))
    }
    print("run: \(s.runPath) (run.json, train.jsonl, checkpoints/, summary.json)")
}

/// The closing lines of a finetune of the model in `model` on stdout.
func printFinetune(_ r: FinetuneResult, model: String) {
    printTrainingSummary(r.training)
    print("weights: \(r.weightsPath) (" + (r.weights == "qat" ? "quantize with: pare quantize \(model) --weights qat" : "evaluate with: pare eval \(model) --weights \(r.weights)") + ")")
    if let s = r.softPruned {
        print(String(format: "soft-pruned model: %@ M -> %@ M MACs, %d -> %d params, validation %.4f (trained, masked channels regrown) -> %.4f (final mask removed, BN recalibrated; finetune it)",
                     millions(s.macs.before), millions(s.macs.after), s.parameters.before, s.parameters.after, s.accuracy.before, s.accuracy.after))
        print("  \(s.out)/model.json; finetune further with: pare finetune \(s.out)")
    }
}
