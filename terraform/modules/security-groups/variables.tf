variable "name" {
  description = "Prefix of every group's name."
  type        = string
}

variable "vpc_id" {
  description = "VPC the groups belong to."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC; instances may reach each other's other ports only through the rules below, but may open outbound connections inside it."
  type        = string
}

variable "admin_cidrs" {
  description = "CIDRs of the operators: SSH to every instance, Kibana on 5601. Never 0.0.0.0/0."
  type        = list(string)
  validation {
    condition     = !contains(var.admin_cidrs, "0.0.0.0/0")
    error_message = "admin_cidrs must not contain 0.0.0.0/0: SSH and Kibana would be open to the Internet."
  }
}

variable "monitoring_cidrs" {
  description = "CIDRs of the Prometheus servers that scrape the sensors' metrics on 9102."
  type        = list(string)
  default     = []
}

variable "mirror_source_cidrs" {
  description = "CIDRs of the traffic-mirroring sources whose VXLAN (UDP 4789) reaches the sensors."
  type        = list(string)
}

variable "tags" {
  description = "Tags added to every group."
  type        = map(string)
  default     = {}
}
