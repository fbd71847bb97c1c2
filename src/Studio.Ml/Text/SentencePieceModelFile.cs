using Google.Protobuf;

namespace Studio.Ml.Text;

/// <summary>The piece types of sentencepiece's ModelProto.</summary>
public enum PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

public sealed record SentencePiece(string Piece, float Score, PieceType Type);

/// <summary>The parts of a unigram sentencepiece model the T5 tokenizer uses.</summary>
public sealed record UnigramModel(IReadOnlyList<SentencePiece> Pieces, int UnkId, byte[] PrecompiledCharsMap);

/// <summary>
/// Reads and writes sentencepiece's ModelProto (`spiece.model`), field numbers as in sentencepiece_model.proto:
/// ModelProto { 1: repeated SentencePiece pieces, 2: TrainerSpec, 3: NormalizerSpec };
/// SentencePiece { 1: piece, 2: score, 3: type }; TrainerSpec { 3: model_type, 35: byte_fallback, 40: unk_id,
/// 41: bos_id, 42: eos_id, 43: pad_id, 45-48: unk/bos/eos/pad piece }; NormalizerSpec { 1: name,
/// 2: precompiled_charsmap, 3: add_dummy_prefix, 4: remove_extra_whitespaces, 5: escape_whitespaces }.
/// </summary>
public static class SentencePieceModelFile
{
    const int Unigram = 1;

    public static UnigramModel Read(byte[] bytes, string source)
    {
        var pieces = new List<SentencePiece>();
        int unkId = 0, modelType = Unigram;
        bool byteFallback = false;
        var charsmap = Array.Empty<byte>();
        try
        {
            var input = new CodedInputStream(bytes);
            for (uint tag; (tag = input.ReadTag()) != 0;)
            {
                switch (WireFormat.GetTagFieldNumber(tag))
                {
                    case 1: pieces.Add(ReadPiece(input.ReadBytes())); break;
                    case 2:
                        var trainer = new CodedInputStream(input.ReadBytes().ToByteArray());
                        for (uint t; (t = trainer.ReadTag()) != 0;)
                        {
                            switch (WireFormat.GetTagFieldNumber(t))
                            {
                                case 3: modelType = trainer.ReadEnum(); break;
                                case 35: byteFallback = trainer.ReadBool(); break;
                                case 40: unkId = trainer.ReadInt32(); break;
                                default: trainer.SkipLastField(); break;
                            }
                        }
                        break;
                    case 3:
                        var normalizer = new CodedInputStream(input.ReadBytes().ToByteArray());
                        for (uint t; (t = normalizer.ReadTag()) != 0;)
                        {
                            if (WireFormat.GetTagFieldNumber(t) == 2) charsmap = normalizer.ReadBytes().ToByteArray();
                            else normalizer.SkipLastField();
                        }
                        break;
                    default: input.SkipLastField(); break;
                }
            }
        }
        catch (InvalidProtocolBufferException e) { throw new InvalidDataException($"{source}: not a sentencepiece model ({e.Message})", e); }

        if (modelType != Unigram) throw new InvalidDataException($"{source}: sentencepiece model type {modelType} is not unigram (1)");
        if (byteFallback) throw new InvalidDataException($"{source}: byte-fallback models are not supported (T5 has none)");
        if (pieces.Count == 0) throw new InvalidDataException($"{source}: the model has no pieces");
        if (unkId < 0 || unkId >= pieces.Count) throw new InvalidDataException($"{source}: unk_id {unkId} is outside the {pieces.Count} pieces");
        return new UnigramModel(pieces, unkId, charsmap);
    }

    static SentencePiece ReadPiece(ByteString bytes)
    {
        var input = new CodedInputStream(bytes.ToByteArray());
        string piece = "";
        float score = 0;
        var type = PieceType.Normal;
        for (uint tag; (tag = input.ReadTag()) != 0;)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: piece = input.ReadString(); break;
                case 2: score = input.ReadFloat(); break;
                case 3: type = (PieceType)input.ReadEnum(); break;
                default: input.SkipLastField(); break;
            }
        }
        return new SentencePiece(piece, score, type);
    }

    /// <summary>
    /// Writes a unigram ModelProto with the given special ids (-1 for none) and the precompiled charsmap, with
    /// sentencepiece's default normaliser flags (dummy prefix, extra-whitespace removal, whitespace escaping).
    /// </summary>
    public static byte[] Write(IReadOnlyList<SentencePiece> pieces, int unkId, int bosId, int eosId, int padId, byte[] precompiledCharsMap)
    {
        var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        // Each piece is written in place after its size (a stream per piece, as the other messages have, costs a 4 KB
        // buffer each: 155 MB of garbage for T5's 32,100 pieces).
        foreach (var p in pieces)
        {
            output.WriteTag(1, WireFormat.WireType.LengthDelimited);
            output.WriteLength(CodedOutputStream.ComputeTagSize(1) + CodedOutputStream.ComputeStringSize(p.Piece)
                               + CodedOutputStream.ComputeTagSize(2) + CodedOutputStream.ComputeFloatSize(p.Score)
                               + CodedOutputStream.ComputeTagSize(3) + CodedOutputStream.ComputeEnumSize((int)p.Type));
            output.WriteTag(1, WireFormat.WireType.LengthDelimited); output.WriteString(p.Piece);
            output.WriteTag(2, WireFormat.WireType.Fixed32); output.WriteFloat(p.Score);
            output.WriteTag(3, WireFormat.WireType.Varint); output.WriteEnum((int)p.Type);
        }
        WriteMessage(output, 2, o =>
        {
            o.WriteTag(3, WireFormat.WireType.Varint); o.WriteEnum(Unigram);
            o.WriteTag(4, WireFormat.WireType.Varint); o.WriteInt32(pieces.Count);
            WriteId(o, 40, 45, unkId, pieces);
            WriteId(o, 41, 46, bosId, pieces);
            WriteId(o, 42, 47, eosId, pieces);
            WriteId(o, 43, 48, padId, pieces);
        });
        WriteMessage(output, 3, o =>
        {
            o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteString("nmt_nfkc");
            o.WriteTag(2, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFrom(precompiledCharsMap));
            foreach (var flag in new[] { 3, 4, 5 }) { o.WriteTag(flag, WireFormat.WireType.Varint); o.WriteBool(true); }
        });
        output.Flush();
        return stream.ToArray();
    }

    static void WriteId(CodedOutputStream o, int idField, int pieceField, int id, IReadOnlyList<SentencePiece> pieces)
    {
        o.WriteTag(idField, WireFormat.WireType.Varint); o.WriteInt32(id);
        if (id < 0) return;
        o.WriteTag(pieceField, WireFormat.WireType.LengthDelimited); o.WriteString(pieces[id].Piece);
    }

    static void WriteMessage(CodedOutputStream output, int field, Action<CodedOutputStream> write)
    {
        var inner = new MemoryStream();
        var o = new CodedOutputStream(inner);
        write(o);
        o.Flush();
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(inner.ToArray()));
    }
}
