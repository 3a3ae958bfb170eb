variable "name" {
  description = "Prefix of the mirror resources' names."
  type        = string
}

variable "target_network_interface_ids" {
  description = "Network interfaces of the sensors that receive the mirrored packets (one mirror target each)."
  type        = list(string)
  validation {
    condition     = length(var.target_network_interface_ids) >= 1
    error_message = "Give at least one sensor network interface as a mirror target."
  }
}

variable "source_network_interface_ids" {
  description = "Network interfaces to mirror (Nitro instances). Source i goes to target i modulo the number of targets."
  type        = list(string)
}

variable "virtual_network_id" {
  description = "VXLAN network identifier (VNI) of every session, so the sensors can tell mirrored traffic apart."
  type        = number
  default     = 4242
  validation {
    condition     = var.virtual_network_id >= 0 && var.virtual_network_id < 16777216
    error_message = "virtual_network_id is a 24-bit VXLAN VNI: 0..16777215."
  }
}

variable "packet_length" {
  description = "Bytes of each packet to mirror; null mirrors whole packets. Keep it at or above the sensor's snaplen for full records."
  type        = number
  default     = null
}

variable "filter_rules" {
  description = "Accept rules of the mirror filter: direction (ingress or egress), rule_number, protocol number (null: all), and CIDRs. The default mirrors everything except the mirror's own VXLAN."
  type = list(object({
    direction              = string
    rule_number            = number
    protocol               = optional(number)
    source_cidr_block      = string
    destination_cidr_block = string
  }))
  default = [
    { direction = "ingress", rule_number = 100, source_cidr_block = "0.0.0.0/0", destination_cidr_block = "0.0.0.0/0" },
    { direction = "egress", rule_number = 100, source_cidr_block = "0.0.0.0/0", destination_cidr_block = "0.0.0.0/0" },
  ]
  validation {
    condition     = alltrue([for rule in var.filter_rules : contains(["ingress", "egress"], rule.direction) && rule.rule_number > 10 && rule.rule_number <= 32766])
    error_message = "Each filter rule needs direction ingress or egress and a rule_number from 11 to 32766 (10 is the rule that keeps VXLAN out of the mirror)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
