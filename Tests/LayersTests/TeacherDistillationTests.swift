import Layers
import TensorCore
import Testing
import _TestSupport

/// Knowledge distillation from a fixed teacher (DistillationLoss).
@Suite struct TeacherDistillationTests {
    let labels: [Int32] = [0, 3, 4, 1, 2, 4]

    func logits(_ seed: UInt64, scale: Float = 1) -> OwnedMap {
        let m = OwnedMap.random(channels: 5, height: 1, width: 1, batch: 6, rng: RNG(seed: seed))
        return OwnedMap(channels: 5, height: 1, width: 1, batch: 6, values: m.values.map { $0 * scale })
    }

    @Test func weightZeroIsTheLabelsLossAndOneHotTeacherIsPlainCrossEntropy() {
        let z = logits(1, scale: 3), teacher = logits(2, scale: 3)
        // Weight 0: the label-smoothed cross-entropy, whatever the teacher says (to rounding:
        // SoftmaxCrossEntropy subtracts the max in Float).
        let smoothed = SoftmaxCrossEntropy(labelSmoothing: 0.1), kd0 = DistillationLoss(alpha: 0, temperature: 4, labelSmoothing: 0.1)
        let a = labels.withUnsafeBufferPointer { smoothed.evaluate(logits: z.map, labels: $0, gradient: true) }
        let b = labels.withUnsafeBufferPointer { kd0.evaluate(logits: z.map, labels: $0, teacher: teacher.map, gradient: true) }
        #expect(abs(a.loss - b.loss) < 1e-6 && a.correct == b.correct)
        #expect(maxAbsDifference(a.gradient!.toArray(), b.gradient!.toArray()) < 1e-7)
        // Weight 1, temperature 1, no smoothing, a teacher whose softmax is the labels' one-hot
        // (logit 80 on the label, 0 elsewhere: the rest is below 1e-34): plain cross-entropy
        // (the KL to a one-hot target is its cross-entropy: the target's entropy is 0).
        var oneHot = [Float](repeating: 0, count: 30)
        for (n, l) in labels.enumerated() { oneHot[Int(l) * 6 + n] = 80 }
        let sharp = OwnedMap(channels: 5, height: 1, width: 1, batch: 6, values: oneHot)
        let plain = SoftmaxCrossEntropy(), kd1 = DistillationLoss(alpha: 1, temperature: 1)
        let c = labels.withUnsafeBufferPointer { plain.evaluate(logits: z.map, labels: $0, gradient: true) }
        let d = labels.withUnsafeBufferPointer { kd1.evaluate(logits: z.map, labels: $0, teacher: sharp.map, gradient: true) }
        #expect(abs(c.loss - d.loss) < 1e-6 && c.correct == d.correct)
        #expect(maxAbsDifference(c.gradient!.toArray(), d.gradient!.toArray()) < 1e-7)
        // A different teacher changes the loss (the check above can fail); a student that
        // matches its teacher has no soft loss at any temperature.
        let e = labels.withUnsafeBufferPointer { kd1.evaluate(logits: z.map, labels: $0, teacher: teacher.map, gradient: false) }
        #expect(abs(e.loss - c.loss) > 1e-3)
        let kd3 = DistillationLoss(alpha: 1, temperature: 3)
        let f = labels.withUnsafeBufferPointer { kd3.evaluate(logits: z.map, labels: $0, teacher: z.map, gradient: true) }
        #expect(abs(f.loss) < 1e-12 && f.gradient!.toArray().allSatisfy { abs($0) < 1e-7 })
        withExtendedLifetime((smoothed, kd0, plain, kd1, kd3)) {}
    }

    @Test(arguments: [(Float(0.7), Float(3)), (0.9, 4), (0.5, 0.5)])
    func gradientIsTheFiniteDifference(alpha: Float, temperature: Float) {
        let z = logits(3, scale: 2), teacher = logits(4, scale: 2)
        let kd = DistillationLoss(alpha: alpha, temperature: temperature, labelSmoothing: 0.1)
        let analytic = labels.withUnsafeBufferPointer { kd.evaluate(logits: z.map, labels: $0, teacher: teacher.map, gradient: true) }.gradient!.toArray()
        var v = z.values
        func loss(_ v: [Float]) -> Double {
            let m = OwnedMap(channels: 5, height: 1, width: 1, batch: 6, values: v)
            return labels.withUnsafeBufferPointer { kd.evaluate(logits: m.map, labels: $0, teacher: teacher.map, gradient: false).loss }
        }
        for i in 0..<v.count {
            let s = v[i]
            v[i] = s + 1e-2; let lp = loss(v)
            v[i] = s - 1e-2; let lm = loss(v)
            v[i] = s
            #expect(abs((lp - lm) / 2e-2 - Double(analytic[i])) < 3e-4, "logit \(i)")
        }
    }
}
