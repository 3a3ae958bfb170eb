variable "name" {
  description = "Prefix of the instance names; instance i is named <name>-<i+1>."
  type        = string
}

variable "role" {
  description = "Ansible group of these instances: elasticsearch, kibana, logstash, kafka or sensors."
  type        = string
  validation {
    condition     = contains(["elasticsearch", "kibana", "logstash", "kafka", "sensors"], var.role)
    error_message = "role must be one of elasticsearch, kibana, logstash, kafka, sensors (the groups of ansible/site.yml)."
  }
}

variable "instance_count" {
  description = "Number of instances."
  type        = number
}

variable "instance_type" {
  description = "EC2 instance type. Sensors that receive traffic mirroring should be Nitro-based with enough network bandwidth for the mirrored traffic."
  type        = string
}

variable "ami_id" {
  description = "AMI: Debian 12 or Ubuntu 24.04 (what the Ansible roles support)."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets to spread the instances over, round robin."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of every instance."
  type        = list(string)
}

variable "key_name" {
  description = "EC2 key pair for SSH (Ansible); null: none (use SSM Session Manager)."
  type        = string
  default     = null
}

variable "root_volume_size" {
  description = "Root volume size, GiB."
  type        = number
  default     = 30
}

variable "data_volume_size" {
  description = "Size of the data volume in GiB (Elasticsearch data, Kafka logs, the sensor's spool and store); 0: none."
  type        = number
  default     = 0
}

variable "data_volume_device" {
  description = "Device name of the data volume."
  type        = string
  default     = "/dev/sdf"
}

variable "user_data" {
  description = "cloud-init user data, or null."
  type        = string
  default     = null
}

variable "source_dest_check" {
  description = "EC2 source/destination check of the primary interface."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
