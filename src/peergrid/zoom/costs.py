"""Communication OPEX and gateway (base-station) power from time on air and duty.

Message model (one reading per step):

* **uplinks**: every covered device sends one meter reading + bid per step
  (``payload_bytes``), repeated until delivered: expected transmissions
  min(1/PDR, cap) (:class:`peergrid.zoom.lora.RadioState`);
* **downlinks**: the settlement (prices, shares) is one multicast per VMG and
  step, sent by each gateway at the largest SF among the devices it addresses
  (:meth:`peergrid.zoom.vmg.VMGPlan.multicast_sf`); a gateway with members in
  the wide VMG sends a second multicast for them.

Gateway power (per gateway, W):

    P_g = P_idle + P_rx · (uplink airtime received per second) + P_tx · (downlink duty)

i.e. the receive chain's extra draw while demodulating, weighted by the airtime
of all transmissions it serves (including retransmissions), and the power
amplifier's draw while transmitting (duty = downlink airtime / step). The
defaults are assumptions for an 8-channel SX1301-class outdoor gateway with a
27 dBm PA — P_idle 2.0 W, P_rx 0.5 W, P_tx 3.0 W — and are reported next to the
results; only the airtime-driven part depends on the radio configuration.

OPEX per step = c_msg · (uplink transmissions + downlinks) + price_kWh · gateway
energy (network-server/backhaul cost per message plus electricity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from peergrid.core.errors import ConfigError
from peergrid.zoom.lora import RadioState, time_on_air
from peergrid.zoom.uplinks import UplinkLog
from peergrid.zoom.vmg import VMGPlan

__all__ = ["CostParams", "NetworkCost", "measured_network_cost", "network_cost"]


@dataclass(frozen=True)
class CostParams:
    """Cost and power assumptions (see the module docstring).

    Attributes
    ----------
    p_idle_w, p_rx_w, p_tx_w : float
        Gateway idle draw, extra draw while receiving, extra draw while transmitting, W.
    cost_per_message : float
        Network-server/backhaul cost per LoRaWAN message (uplink transmission or downlink), currency.
    electricity_price : float
        Price of the gateways' electricity, currency/kWh.
    """

    p_idle_w: float = 2.0
    p_rx_w: float = 0.5
    p_tx_w: float = 3.0
    cost_per_message: float = 1e-4
    electricity_price: float = 0.30

    def __post_init__(self) -> None:
        for name in ("p_idle_w", "p_rx_w", "p_tx_w", "cost_per_message", "electricity_price"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ConfigError(f"cost {name} must be >= 0, got {v}")


@dataclass(frozen=True)
class NetworkCost:
    """Communication figures over ``steps`` steps.

    Attributes
    ----------
    uplink_tx, downlinks : float
        Uplink transmissions (with retransmissions) and downlink multicasts.
    rx_airtime_s, tx_airtime_s : numpy.ndarray
        ``(G,)`` uplink airtime received and downlink airtime sent per step, s.
    gateway_power_w : numpy.ndarray
        ``(G,)`` mean power per gateway, W.
    gateway_energy_kwh : float
        All gateways over the horizon, kWh.
    opex : float
        Messages + electricity, currency.
    downlink_duty : numpy.ndarray
        ``(G,)`` downlink airtime / step.
    steps : int
    """

    uplink_tx: float
    downlinks: float
    rx_airtime_s: np.ndarray
    tx_airtime_s: np.ndarray
    gateway_power_w: np.ndarray
    gateway_energy_kwh: float
    opex: float
    downlink_duty: np.ndarray
    device_duty_ok: float
    steps: int
    params: CostParams

    @property
    def dynamic_power_w(self) -> float:
        """Airtime-driven part of the total gateway power, W."""
        return float(self.gateway_power_w.sum() - self.params.p_idle_w * self.gateway_power_w.shape[0])

    def summary(self, gateway_duty_limit: float = 0.10) -> dict[str, Any]:
        """Stable keys (W, kWh, currency, counts)."""
        return {
            "uplink_transmissions": self.uplink_tx,
            "downlinks": self.downlinks,
            "messages": self.uplink_tx + self.downlinks,
            "gateway_power_w": float(self.gateway_power_w.sum()),
            "gateway_dynamic_power_w": self.dynamic_power_w,
            "gateway_energy_kwh": self.gateway_energy_kwh,
            "opex": self.opex,
            "gateways_over_duty": int(np.sum(self.downlink_duty > gateway_duty_limit)),
            "devices_duty_ok_share": self.device_duty_ok,
        }


def network_cost(radio: RadioState, plan: VMGPlan, steps: int, params: CostParams | None = None) -> NetworkCost:
    """OPEX and gateway power of one radio configuration and VMG plan over ``steps`` steps.

    Parameters
    ----------
    radio : RadioState
        SF, TX power, PDR, transmissions per device.
    plan : VMGPlan
        VMG membership (determines the multicasts).
    steps : int
        Number of steps.
    params : CostParams, optional

    Returns
    -------
    NetworkCost
    """
    c = params or CostParams()
    if int(steps) < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    G = plan.n_gateways
    step_s = radio.step_s
    covered = radio.covered
    air = radio.toa_s * radio.transmissions  # s per step per device
    rx_air = np.bincount(radio.home[covered], weights=air[covered], minlength=G)
    msf = plan.multicast_sf()
    dl_bytes = radio.params.downlink_bytes
    dl_air = np.where(msf > 0, time_on_air(dl_bytes, np.where(msf > 0, msf, 7)), 0.0).sum(axis=1)
    n_dl = float((msf > 0).sum()) * steps
    duty = dl_air / step_s
    power = c.p_idle_w + c.p_rx_w * rx_air / step_s + c.p_tx_w * duty
    hours = steps * step_s / 3600.0
    energy_kwh = float(power.sum() * hours / 1000.0)
    up = float(radio.transmissions[covered].sum()) * steps
    opex = c.cost_per_message * (up + n_dl) + c.electricity_price * energy_kwh
    dev_ok = float(radio.duty_ok[covered].mean()) if covered.any() else 1.0
    return NetworkCost(up, n_dl, rx_air, dl_air, power, energy_kwh, opex, duty, dev_ok, int(steps), c)


def measured_network_cost(
    log: UplinkLog, plan: VMGPlan, params: CostParams | None = None, downlink_bytes: int = 12
) -> NetworkCost:
    """OPEX and gateway power from **measured** uplinks (:func:`peergrid.zoom.uplinks.simulate_uplinks`).

    Same model as :func:`network_cost`, with the uplink transmissions actually sent
    (retransmissions included) and the airtime each gateway actually heard above
    sensitivity (every device in range, not only the ones it serves) instead of the
    analytic expectation.

    Parameters
    ----------
    log : UplinkLog
        The period's measurements (``log.steps`` steps of ``log.step_s`` s).
    plan : VMGPlan
        VMG membership (settlement multicasts).
    params : CostParams, optional
    downlink_bytes : int
        Settlement multicast payload, bytes (``RadioParams.downlink_bytes``).

    Returns
    -------
    NetworkCost
    """
    c = params or CostParams()
    steps = int(log.steps)
    step_s = float(log.step_s)
    rx_air = np.asarray(log.gw_airtime_s, dtype=np.float64) / steps  # per step
    msf = plan.multicast_sf()
    dl_air = np.where(msf > 0, time_on_air(int(downlink_bytes), np.where(msf > 0, msf, 7)), 0.0).sum(axis=1)
    n_dl = float((msf > 0).sum()) * steps
    duty = dl_air / step_s
    power = c.p_idle_w + c.p_rx_w * rx_air / step_s + c.p_tx_w * duty
    energy_kwh = float(power.sum() * steps * step_s / 3600.0 / 1000.0)
    up = float(log.transmissions.sum())
    opex = c.cost_per_message * (up + n_dl) + c.electricity_price * energy_kwh
    active = log.transmissions > 0
    dev_ok = float(log.duty_ok[active].mean()) if active.any() else 1.0
    return NetworkCost(up, n_dl, rx_air, dl_air, power, energy_kwh, opex, duty, dev_ok, steps, c)
