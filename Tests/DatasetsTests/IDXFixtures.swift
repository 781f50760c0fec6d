import Datasets
import Foundation
import TensorCore
import Testing
import _TestSupport

func idxImages(count: Int, h: Int = 4, w: Int = 3) -> IDXArray {
    IDXArray(dimensions: [count, h, w], bytes: (0..<(count * h * w)).map { UInt8($0 % 251) })
}

func idxLabels(_ labels: [UInt8]) -> IDXArray { IDXArray(dimensions: [labels.count], bytes: labels) }

func message(_ body: () throws -> Void) -> String {
    do { try body() } catch { return "\(error)" }
    return "no error"
}
