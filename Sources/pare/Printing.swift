import Foundation
import Search
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

/// A search's closing lines on stdout: the `top` candidates and the files written.
func printSearch(_ r: SearchResult, top: Int) {
    print(String(format: "searched %d generations, %d candidates evaluated (%d in %.1f s this process, %.1f per minute)",
                 r.generations, r.evaluated, r.scoredHere, r.seconds, Double(r.scoredHere) / max(r.seconds, 1e-9) * 60))
    // Peak memory and flash (KiB) when the budget limits them.
    let edge = r.ranked.first?.measured.edge != nil
    print(" rank  score    MMACs   params  latency  " + (edge ? "peakKiB flashKiB  " : "") + "architecture")
    for (i, c) in r.ranked.prefix(top).enumerated() {
        let ms = c.measured.latencyMs.map { String(format: "%6.3fms", $0) } ?? "      - "
        let memory = c.measured.edge.map { String(format: "%7.1f  %7.1f  ", Double($0.peakActivationBytes) / 1024, Double($0.flashBytes) / 1024) } ?? ""
        print(String(format: "%5d  %.4f  %6.3f  %7d  %@  %@%@", i + 1, c.score, Double(c.measured.macs) / 1e6, c.measured.parameters, ms, memory,
                     c.architecture.description))
    }
    print("best: \(r.best.architecture.description)")
    print("written: \(r.path)/{\(SearchRun.resultFiles.joined(separator: ","))}")
}

/// What an export wrote, on stdout.
func printExport(_ e: ExportResult) {
    print("exported \(e.architecture)")
    print(String(format: "  %.3f M MACs, %d parameters, inherited-weight validation accuracy %.4f", Double(e.macs) / 1e6, e.parameters, e.inheritedScore))
    print("  \(e.out)/{\(e.files.joined(separator: ","))}")
}
