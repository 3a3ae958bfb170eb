# Every input of the example, with what it does. terraform.tfvars.example sets the ones
# without a default.

variable "region" {
  description = "AWS region, e.g. eu-central-1."
  type        = string
}

variable "name" {
  description = "Prefix of every resource name (lower case, digits and dashes)."
  type        = string
  default     = "netsensor"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2 to 21 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "availability_zones" {
  description = "Zones of the subnets; Elasticsearch and Kafka nodes are spread over them."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the new VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "ami_id" {
  description = "AMI of every instance: Debian 12 or Ubuntu 24.04 (x86_64, matching the instance types)."
  type        = string
}

variable "key_name" {
  description = "EC2 key pair Ansible connects with; null to use SSM Session Manager only."
  type        = string
  default     = null
}

variable "admin_cidrs" {
  description = "CIDRs of the operators (SSH, Kibana). Never 0.0.0.0/0."
  type        = list(string)
}

variable "monitoring_cidrs" {
  description = "CIDRs of the Prometheus servers scraping the sensors on 9102."
  type        = list(string)
  default     = []
}

variable "elasticsearch" {
  description = "Elasticsearch nodes: count (1, or 3 and more), instance type, data volume GiB."
  type = object({
    count         = number
    instance_type = string
    data_gib      = number
  })
  default = { count = 3, instance_type = "r6i.large", data_gib = 500 }
  validation {
    condition     = var.elasticsearch.count == 1 || var.elasticsearch.count >= 3
    error_message = "elasticsearch.count must be 1 or at least 3: two master-eligible nodes cannot survive the loss of either."
  }
}

variable "kibana" {
  description = "Kibana nodes: count and instance type."
  type = object({
    count         = number
    instance_type = string
  })
  default = { count = 1, instance_type = "t3.medium" }
}

variable "logstash" {
  description = "Logstash nodes (Kafka or Beats to Elasticsearch): count (0: none) and instance type."
  type = object({
    count         = number
    instance_type = string
  })
  default = { count = 1, instance_type = "c6i.large" }
}

variable "kafka" {
  description = "Kafka nodes in KRaft mode (0: no Kafka, the sensors write to Elasticsearch): count, instance type, data volume GiB."
  type = object({
    count         = number
    instance_type = string
    data_gib      = number
  })
  default = { count = 0, instance_type = "m6i.large", data_gib = 200 }
}

variable "sensors" {
  description = "Sensor instances receiving the mirrored traffic: count, instance type (Nitro), spool and store volume GiB."
  type = object({
    count         = number
    instance_type = string
    data_gib      = number
  })
  default = { count = 1, instance_type = "c6in.large", data_gib = 100 }
}

variable "mirror_source_network_interface_ids" {
  description = "Network interfaces whose traffic is mirrored to the sensors (Nitro instances, any VPC reachable from the sensors' subnets)."
  type        = list(string)
  default     = []
}

variable "mirror_source_cidrs" {
  description = "CIDRs the mirrored VXLAN comes from (the sources' subnets); default: the new VPC."
  type        = list(string)
  default     = []
}

variable "mirror_vni" {
  description = "VXLAN network identifier of the mirror sessions."
  type        = number
  default     = 4242
}

variable "mirror_decapsulation" {
  description = "Where the mirror's VXLAN is removed: \"sensor\" (default: netsensor captures udp dst port 4789 on the primary interface and decapsulates, keeping the VNI in netsensor.tunnel.id) or \"kernel\" (a VXLAN device mirror0 from the user data; the sensor captures the inner frames on it)."
  type        = string
  default     = "sensor"
  validation {
    condition     = contains(["sensor", "kernel"], var.mirror_decapsulation)
    error_message = "mirror_decapsulation must be \"sensor\" or \"kernel\"."
  }
}

variable "tags" {
  description = "Tags on every resource (through the provider's default_tags)."
  type        = map(string)
  default     = { Project = "netsensor" }
}
