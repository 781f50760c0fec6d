import Foundation
import Search
import Spaces

/// A study's table: per arm and start, mean ± sample standard deviation over the seeds of
/// the inherited score, the validation accuracy after retraining and the test accuracy,
/// with the winners' mean costs (MACs, parameters, int8 peak memory and flash) and latency.
public struct StudyReport: Sendable {
    public struct Row: Sendable {
        public var arm: StudyArm
        public var start: StudyStart
        public var seeds: Int
        public var inherited: Spread?
        public var validation: Spread
        public var test: Spread?
        public var macs: Double
        public var parameters: Double
        public var peakMemoryBytes: Double
        public var flashBytes: Double
        public var latencyMs: Double?
    }

    /// Mean and sample standard deviation (0 for one value).
    public struct Spread: Sendable, Equatable {
        public var mean: Double
        public var std: Double
        public init(_ values: [Double]) {
            mean = values.reduce(0, +) / Double(values.count)
            let m = mean
            std = values.count > 1 ? (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot() : 0
        }
        public var text: String { String(format: "%.4f ± %.4f", mean, std) }
    }

    public var rows: [Row] = []
    public var budget: Budget
    public var seeds: [UInt64]

    public init(state: StudyState, space: SearchSpace) {
        budget = state.settings.budget
        seeds = state.settings.seeds
        for arm in StudyArm.allCases {
            for start in StudyStart.allCases {
                var inherited: [Double] = [], validation: [Double] = [], test: [Double] = [], latency: [Double] = []
                var costs: [(Cost, EdgeCost)] = []
                for seed in seeds {
                    guard let w = state.winners["seed-\(seed)"]?[arm],
                          let t = state.trained["seed-\(seed)/\(w.architecture)/\(start.rawValue)"] else { continue }
                    if let s = w.score { inherited.append(s) }
                    validation.append(t.validation)
                    if let x = t.test { test.append(x) }
                    if let l = t.latencyMs { latency.append(l) }
                    costs.append((space.cost(w.architecture), space.edgeCost(w.architecture)))
                }
                guard !validation.isEmpty else { continue }
                func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(v.count) }
                rows.append(Row(arm: arm, start: start, seeds: validation.count, inherited: inherited.isEmpty ? nil : Spread(inherited),
                                validation: Spread(validation), test: test.count == validation.count ? Spread(test) : nil,
                                macs: mean(costs.map { Double($0.0.macs) }), parameters: mean(costs.map { Double($0.0.parameters) }),
                                peakMemoryBytes: mean(costs.map { Double($0.1.peakActivationBytes) }),
                                flashBytes: mean(costs.map { Double($0.1.flashBytes) }), latencyMs: latency.isEmpty ? nil : mean(latency)))
            }
        }
    }

    public func row(_ arm: StudyArm, _ start: StudyStart) -> Row? { rows.first { $0.arm == arm && $0.start == start } }

    /// Whether `a` beats `b` by at least `points` (accuracy points) and by 2σ of the larger
    /// seed spread, on validation or, with `test`, on the test split.
    public func beats(_ a: Row, _ b: Row, by points: Double, test: Bool = false) -> Bool {
        guard let x = test ? a.test : a.validation, let y = test ? b.test : b.validation else { return false }
        let gap = x.mean - y.mean
        return gap >= points / 100 && gap >= 2 * max(x.std, y.std)
    }

    public var markdown: String {
        var s = "Budget: \(budget.readable); seeds \(seeds.map(String.init).joined(separator: ", ")) (supernet, search and retraining reseeded).\n"
        s += "Scores are accuracies, mean ± std over seeds; the test split was evaluated once, after all training.\n\n"
        s += "| arm | start | seeds | inherited score | validation | test | MACs | params | peak memory | flash | latency |\n"
        s += "|---|---|---:|---|---|---|---:|---:|---:|---:|---:|\n"
        for r in rows {
            let latency = r.latencyMs.map { String(format: "%.3f ms", $0) } ?? "-"
            s += "| \(r.arm.rawValue) | \(r.start.rawValue) | \(r.seeds) | \(r.inherited?.text ?? "-") | \(r.validation.text) | \(r.test?.text ?? "-") | "
            s += "\(readableCount(r.macs)) | \(readableCount(r.parameters)) | \(readableBytes(Int(r.peakMemoryBytes))) | \(readableBytes(Int(r.flashBytes))) | \(latency) |\n"
        }
        return s
    }
}
