"""PyTorch twin of synthaug's diffusion U-Net (src/models/unet.ts): same blocks, same parameter names.

Written independently from the TypeScript (NCHW here, NHWC there); used by torch_bench.py for the side-by-side
benchmark and by make_unet_fixtures.py for the forward-comparison fixture. See src/models/unet.ts for the design
(DDPM / improved-DDPM U-Net, class embedding with a null class, one attention block at the lowest resolution).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULTS = dict(base_channels=64, channel_mult=(1, 2, 2), num_res_blocks=2, attention_heads=4, dropout=0.1, groups=32)


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


class ResBlock(nn.Module):
    def __init__(self, in_c, out_c, emb_dim, groups, dropout):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_c)
        self.conv1 = nn.Conv2d(in_c, out_c, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, out_c)
        self.norm2 = nn.GroupNorm(groups, out_c)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_c, out_c, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        self.skip = nn.Conv2d(in_c, out_c, 1) if in_c != out_c else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb_proj(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.skip(x) if self.skip is not None else x) + h


class AttentionBlock(nn.Module):
    def __init__(self, channels, heads, groups):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        nn.init.zeros_(self.proj.weight)

    def forward(self, x):
        b, c, h, w = x.shape
        n, d = h * w, c // self.heads
        tokens = self.norm(x).reshape(b, c, n).transpose(1, 2)  # (B, N, C)
        q, k, v = self.qkv(tokens).reshape(b, n, 3, self.heads, d).permute(2, 0, 3, 1, 4)  # each (B, heads, N, d)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
        out = (att @ v).transpose(1, 2).reshape(b, n, c)
        return x + self.proj(out).transpose(1, 2).reshape(b, c, h, w)


class TimeEmbed(nn.Module):
    def __init__(self, base, emb_dim):
        super().__init__()
        self.linear_1 = nn.Linear(base, emb_dim)
        self.linear_2 = nn.Linear(emb_dim, emb_dim)

    def forward(self, t_emb):
        return self.linear_2(F.silu(self.linear_1(t_emb)))


class UNet(nn.Module):
    def __init__(self, image_size, in_channels, num_classes, base_channels=64, channel_mult=(1, 2, 2),
                 num_res_blocks=2, attention_heads=4, dropout=0.1, groups=32):
        super().__init__()
        self.base = base_channels
        emb_dim = 4 * base_channels
        self.time_embed = TimeEmbed(base_channels, emb_dim)
        # A plain [num_classes + 1, E] table (last row: the null class), named without `.weight` so that it is not
        # mistaken for a Linear weight by layout converters.
        self.class_embed = nn.Parameter(torch.randn(num_classes + 1, emb_dim))
        self.conv_in = nn.Conv2d(in_channels, base_channels, 3, padding=1)
        skips, ch = [base_channels], base_channels
        last = len(channel_mult) - 1
        self.down = nn.ModuleList()
        for l, mult in enumerate(channel_mult):
            level = nn.Module()
            level.res = nn.ModuleList()
            for _ in range(num_res_blocks):
                level.res.append(ResBlock(ch, mult * base_channels, emb_dim, groups, dropout))
                ch = mult * base_channels
                skips.append(ch)
            level.downsample = nn.Conv2d(ch, ch, 3, stride=2, padding=1) if l != last else None
            if l != last:
                skips.append(ch)
            self.down.append(level)
        self.mid = nn.Module()
        self.mid.res1 = ResBlock(ch, ch, emb_dim, groups, dropout)
        self.mid.attn = AttentionBlock(ch, attention_heads, groups)
        self.mid.res2 = ResBlock(ch, ch, emb_dim, groups, dropout)
        ups = {}
        for l in range(last, -1, -1):
            level = nn.Module()
            level.res = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                level.res.append(ResBlock(ch + skips.pop(), channel_mult[l] * base_channels, emb_dim, groups, dropout))
                ch = channel_mult[l] * base_channels
            level.upsample = nn.Conv2d(ch, ch, 3, padding=1) if l != 0 else None
            ups[l] = level
        self.up = nn.ModuleList([ups[l] for l in range(last + 1)])  # up.{l}, applied from l = last down to 0
        self.norm_out = nn.GroupNorm(groups, ch)
        self.conv_out = nn.Conv2d(ch, in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)

    def forward(self, x, t, y):
        emb = self.time_embed(timestep_embedding(t, self.base)) + self.class_embed[y]
        h = self.conv_in(x)
        hs = [h]
        for level in self.down:
            for block in level.res:
                h = block(h, emb)
                hs.append(h)
            if level.downsample is not None:
                h = level.downsample(h)
                hs.append(h)
        h = self.mid.res2(self.mid.attn(self.mid.res1(h, emb)), emb)
        for level in reversed(self.up):
            for block in level.res:
                h = block(torch.cat([h, hs.pop()], dim=1), emb)
            if level.upsample is not None:
                h = level.upsample(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))
