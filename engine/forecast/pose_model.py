"""The hierarchical pose forecaster (Zhai et al., arXiv:1712.01955, section 3)
and the pose baselines.

Three temporal levels, stepped together frame by frame:

- person: a GRU per person over that person's pose (hips' midpoint, its
  velocity, the joints relative to it and their velocities);
- group: each step people are grouped by proximity and motion
  (:func:`form_groups`: two people are linked when their hips are closer than
  ``link_distance`` body heights and either their velocities differ by less
  than ``link_speed`` body heights a frame or they are closing in on each
  other faster than that; groups are the linked components); for each pair
  in a group, the other member's state and where it is and how it moves
  relative to one (hips' offset and velocity difference, in body heights)
  go through one linear layer and a ReLU, max-pooled over the other members
  of each person's group (zeros for someone alone; ``pairwise=False`` pools
  the others' states only), and a GRU per person carries that group context;
- scene: the person states max-pooled over everyone, into one scene GRU.

Each person's next input holds its group's and the scene's state, so the
levels feed back into every forecast. After the observed frames the model
rolls out ``future`` frames: each step predicts a correction to the last
velocity of the hips and of every joint (so it starts from constant velocity)
and regroups people on the forecast positions.

Ablations: ``variant="no-group"`` (the group level removed), ``"one-group"``
(everyone always in one group). Coordinates are pixels; the model divides
by the image size.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["HierarchicalPoseModel", "VARIANTS", "form_groups", "zero_velocity", "constant_velocity", "body_height"]

VARIANTS = ("hierarchical", "no-group", "one-group")
_LHIP, _RHIP = 11, 12


def body_height(pose: torch.Tensor) -> torch.Tensor:
    """(..., 17, 2) -> (...): the distance from the head (eyes' midpoint) to the ankles' midpoint."""
    head = pose[..., 1:3, :].mean(-2)
    feet = pose[..., 15:17, :].mean(-2)
    return (head - feet).norm(dim=-1).clamp_min(1e-3)


def form_groups(pos: torch.Tensor, vel: torch.Tensor, height: torch.Tensor, mask: torch.Tensor, *,
                link_distance: float = 0.75, link_speed: float = 0.04) -> torch.Tensor:
    """Groups by proximity and motion: (B, P, P) bool, ``[b, i, j]`` true when i and j share a group.

    ``pos``, ``vel`` (B, P, 2) hips' position and velocity per frame, ``height`` (B, P) body heights,
    ``mask`` (B, P) who exists. Linked: closer than ``link_distance`` x their mean height, and velocities
    differing by less than ``link_speed`` x that height a frame or the distance between them shrinking by
    more than that (walking up to each other); a group is a connected component of the links."""
    B, P, _ = pos.shape
    h = (height[:, :, None] + height[:, None, :]) / 2
    near = (pos[:, :, None] - pos[:, None, :]).norm(dim=-1) < link_distance * h
    rel_v = vel[:, :, None] - vel[:, None, :]
    alike = rel_v.norm(dim=-1) < link_speed * h
    # or closing in on each other (walking up to meet): the distance shrinks by more than link_speed a frame
    rel_p = pos[:, :, None] - pos[:, None, :]
    closing = (rel_p * rel_v).sum(-1) / rel_p.norm(dim=-1).clamp_min(1e-6) < -link_speed * h
    alike = alike | closing
    both = mask[:, :, None] & mask[:, None, :]
    eye = torch.eye(P, dtype=torch.bool, device=pos.device).expand(B, P, P)
    adj = (near & alike & both) | (eye & both)
    reach = adj.float()
    for _ in range(max(1, (P - 1).bit_length())):  # transitive closure by squaring
        reach = ((reach @ reach) > 0).float()
    return reach > 0


def _masked_max(h: torch.Tensor, member: torch.Tensor) -> torch.Tensor:
    """h (B, P, D), member (B, P, P) bool -> (B, P, D): max over j with member[b, i, j] (zeros if none)."""
    x = h[:, None, :, :].expand(-1, member.shape[1], -1, -1)
    x = x.masked_fill(~member[..., None], float("-inf")).amax(dim=2)
    return torch.where(torch.isfinite(x), x, torch.zeros_like(x))


class HierarchicalPoseModel(nn.Module):
    """``forward(obs, mask=None) -> (B, P, future, 17, 2)`` pixel keypoints; ``obs`` (B, P, To, 17, 2)."""

    def __init__(self, *, future: int, image_size: int, hidden: int = 64, variant: str = "hierarchical",
                 link_distance: float = 0.75, link_speed: float = 0.04, pairwise: bool = True):
        super().__init__()
        self.pairwise = bool(pairwise)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}")
        self.future, self.image_size, self.hidden, self.variant = int(future), int(image_size), int(hidden), variant
        self.link_distance, self.link_speed = float(link_distance), float(link_speed)
        d_in = 2 + 2 + 34 + 34
        ctx = hidden * (1 if variant == "no-group" else 2)
        self.embed = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU())
        self.person = nn.GRUCell(hidden + ctx, hidden)
        self.pool_in = nn.Linear(hidden, hidden)
        self.group = nn.GRUCell(hidden, hidden) if variant != "no-group" else None
        # the group level's input per pair: the other's state and where it is and how it moves relative to one
        # (a linear layer over [state_j, geometry_ij], split so the state's part is computed once per person)
        self.pair_state = nn.Linear(hidden, hidden) if variant != "no-group" and self.pairwise else None
        self.pair_geometry = nn.Linear(4, hidden, bias=False) if self.pair_state is not None else None
        self.scene = nn.GRUCell(hidden, hidden)
        self.head = nn.Sequential(nn.Linear(hidden + ctx, hidden), nn.ReLU(), nn.Linear(hidden, 2 + 34))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    # -- features -------------------------------------------------------------
    def _split(self, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        root = pose[..., [_LHIP, _RHIP], :].mean(-2)
        return root, pose - root[..., None, :]

    def _features(self, root, rel, d_root, d_rel):
        s = self.image_size
        return torch.cat([root / s - 0.5, d_root / s * 10, rel.flatten(-2) / s * 4, d_rel.flatten(-2) / s * 20], -1)

    def _step(self, x, state, mask, pos, vel, height, given=None):
        h, g, sc = state
        B, P, D = h.shape
        pooled = torch.relu(self.pool_in(h))
        if self.variant == "no-group":
            ctx = sc[:, None, :].expand(B, P, D)
        else:
            if self.variant == "one-group":
                member = mask[:, :, None] & mask[:, None, :]
            elif given is not None:  # group ids given (a diagnostic: the true groups of composed scenes)
                member = (given[:, :, None] == given[:, None, :]) & mask[:, :, None] & mask[:, None, :]
            else:
                member = form_groups(pos, vel, height, mask, link_distance=self.link_distance,
                                     link_speed=self.link_speed)
            # pooled over the *other* members of one's group (alone: zeros), so the context is what the others do
            others = member & ~torch.eye(P, dtype=torch.bool, device=member.device)
            if self.pair_state is not None:
                hs = height[:, :, None, None]
                rel = torch.cat([(pos[:, None, :] - pos[:, :, None]) / hs,
                                 (vel[:, None, :] - vel[:, :, None]) / hs * 10], -1)  # (B, i, j, 4)
                e = torch.relu(self.pair_state(pooled)[:, None, :, :] + self.pair_geometry(rel))
                m = e.masked_fill(~others[..., None], float("-inf")).amax(dim=2)
                gin = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
            else:
                gin = _masked_max(pooled, others)
            g = self.group(gin.reshape(B * P, D), g.reshape(B * P, D)).reshape(B, P, D)
            ctx = torch.cat([g, sc[:, None, :].expand(B, P, D)], -1)
        everyone = (mask[:, None, :]).expand(B, 1, P)
        sc = self.scene(_masked_max(pooled, everyone)[:, 0], sc)
        h = self.person(torch.cat([self.embed(x), ctx], -1).reshape(B * P, -1), h.reshape(B * P, D)).reshape(B, P, D)
        h = h * mask[..., None]
        return (h, g, sc), ctx

    def forward(self, obs: torch.Tensor, mask: torch.Tensor | None = None,
                groups: torch.Tensor | None = None) -> torch.Tensor:
        """``groups`` (B, P, >= To) optional group ids per observed frame used instead of :func:`form_groups`
        (the last observed ones through the rollout): the diagnostic of feeding the true groups."""
        B, P, To, J, _ = obs.shape
        if mask is None:
            mask = torch.ones(B, P, dtype=torch.bool, device=obs.device)
        root, rel = self._split(obs)
        height = body_height(obs[:, :, -1])
        D = self.hidden
        state = (obs.new_zeros(B, P, D), obs.new_zeros(B, P, D), obs.new_zeros(B, D))
        d_root = torch.zeros_like(root[:, :, 0])
        d_rel = torch.zeros_like(rel[:, :, 0])
        ctx = None
        for t in range(To):
            if t > 0:
                d_root, d_rel = root[:, :, t] - root[:, :, t - 1], rel[:, :, t] - rel[:, :, t - 1]
            x = self._features(root[:, :, t], rel[:, :, t], d_root, d_rel)
            state, ctx = self._step(x, state, mask, root[:, :, t], d_root, height,
                                    None if groups is None else groups[:, :, t])
        cur_root, cur_rel = root[:, :, -1], rel[:, :, -1]
        out = []
        s = self.image_size
        for _ in range(self.future):
            corr = self.head(torch.cat([state[0], ctx], -1))
            d_root = d_root + corr[..., :2] * s / 10
            d_rel = d_rel + corr[..., 2:].reshape(B, P, J, 2) * s / 20
            cur_root, cur_rel = cur_root + d_root, cur_rel + d_rel
            out.append(cur_root[..., None, :] + cur_rel)
            x = self._features(cur_root, cur_rel, d_root, d_rel)
            state, ctx = self._step(x, state, mask, cur_root, d_root, height,
                                    None if groups is None else groups[:, :, To - 1])
        return torch.stack(out, 2)


def zero_velocity(obs: torch.Tensor, future: int) -> torch.Tensor:
    """The last observed pose held: (B, P, future, 17, 2)."""
    return obs[:, :, -1:].expand(-1, -1, future, -1, -1).clone()


def constant_velocity(obs: torch.Tensor, future: int) -> torch.Tensor:
    """Every joint moving on at its last velocity (last minus previous frame)."""
    v = obs[:, :, -1] - obs[:, :, -2]
    k = torch.arange(1, future + 1, dtype=obs.dtype, device=obs.device).view(1, 1, future, 1, 1)
    return obs[:, :, -1:] + k * v[:, :, None]
