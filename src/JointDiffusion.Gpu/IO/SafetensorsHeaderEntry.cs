namespace JointDiffusion.Gpu.IO;

/// <summary>One validated tensor entry of a safetensors header; offsets are relative to the data section.</summary>
internal sealed record SafetensorsHeaderEntry(string Name, SafetensorsDType DType, int[] Shape, long ElementCount, long Begin, long End);
