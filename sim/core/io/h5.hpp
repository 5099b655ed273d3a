#pragma once
// A thin RAII layer over the HDF5 C API: typed 1-D/N-D datasets and attributes, errors as moesim exceptions
// that name the file and the object. HDF5's own error printing is switched off; messages come from here.
#include <hdf5.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace moesim::h5 {

/// Owns one HDF5 identifier and closes it with the right H5*close.
class Handle {
public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(o.id_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept;
  ~Handle();
  hid_t id() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }

private:
  hid_t id_ = H5I_INVALID_HID;
};

template <typename T> hid_t native_type();

/// An open file (read-only or freshly created) with the file name kept for messages.
class File {
public:
  static File open_read(const std::string& path);
  static File create(const std::string& path); ///< truncates
  hid_t id() const { return handle_.id(); }
  const std::string& path() const { return path_; }
  void flush();

private:
  Handle handle_;
  std::string path_;
};

/// Location (file or group) plus the file name for messages.
struct Location {
  hid_t id;
  std::string file;
  std::string path; ///< e.g. "/routing"
  std::shared_ptr<Handle> owner; ///< keeps a group open while any Location refers to it
};

[[noreturn]] void throw_bad(const Location& loc, const std::string& name, const std::string& what);

Location root(const File& f);
Location create_group(const Location& parent, const std::string& name);
Location open_group(const Location& parent, const std::string& name);
bool exists(const Location& loc, const std::string& name);

/// Dataset writing. dims gives the shape (product must equal data.size()); chunk_rows > 0 enables chunking along
/// the first dimension, with shuffle + deflate at level `deflate` (0 = chunked, not compressed).
template <typename T>
void write_dataset(const Location& loc, const std::string& name, const std::vector<T>& data,
                   const std::vector<hsize_t>& dims, hsize_t chunk_rows = 0, int deflate = 4);
template <typename T> void write_vector(const Location& loc, const std::string& name, const std::vector<T>& data)
{
  write_dataset<T>(loc, name, data, {static_cast<hsize_t>(data.size())});
}
void write_strings(const Location& loc, const std::string& name, const std::vector<std::string>& data);

/// Dataset reading: the shape is returned in dims; InputError (naming file and dataset) on any failure.
template <typename T>
std::vector<T> read_dataset(const Location& loc, const std::string& name, std::vector<hsize_t>& dims);
/// Bytes of one element of the dataset as stored in the file (0 when it does not exist).
size_t stored_element_bytes(const Location& loc, const std::string& name);
template <typename T> std::vector<T> read_vector(const Location& loc, const std::string& name)
{
  std::vector<hsize_t> dims;
  auto v = read_dataset<T>(loc, name, dims);
  if (dims.size() != 1)
    throw_bad(loc, name, "expected a 1-D dataset");
  return v;
}
std::vector<std::string> read_strings(const Location& loc, const std::string& name);

void write_attr(const Location& loc, const std::string& name, const std::string& value);
void write_attr(const Location& loc, const std::string& name, int64_t value);
void write_attr(const Location& loc, const std::string& name, double value);
void write_attr(const Location& loc, const std::string& name, const std::vector<int>& value);
bool has_attr(const Location& loc, const std::string& name);
std::string read_attr_string(const Location& loc, const std::string& name);
int64_t read_attr_int(const Location& loc, const std::string& name);
double read_attr_double(const Location& loc, const std::string& name);
std::vector<int> read_attr_ints(const Location& loc, const std::string& name);

/// A compound-type table: columns of equal length written as one dataset of records (pandas-friendly).
class CompoundWriter {
public:
  void add_double(const std::string& name, const std::vector<double>* column);
  void add_int(const std::string& name, const std::vector<int64_t>* column);
  void write(const Location& loc, const std::string& name) const;

private:
  struct Column {
    std::string name;
    const std::vector<double>* d = nullptr;
    const std::vector<int64_t>* i = nullptr;
  };
  std::vector<Column> columns_;
};


/// Switches off HDF5's automatic error printing (once per process).
void silence_hdf5_errors();

} // namespace moesim::h5
